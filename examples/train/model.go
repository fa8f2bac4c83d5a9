package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
)

// sample is one labelled point of the generated data set.
type sample struct {
	x [2]float64
	y float64 // 0 or 1
}

// makeData draws two Gaussian blobs, one per class, that overlap a little so
// the validation accuracy is high but not perfect.
func makeData(n int, rng *rand.Rand) []sample {
	out := make([]sample, n)
	for i := range out {
		c := float64(i % 2)
		cx, cy := -1.0, -0.5
		if c == 1 {
			cx, cy = 1.0, 0.8
		}
		out[i] = sample{x: [2]float64{cx + rng.NormFloat64()*0.8, cy + rng.NormFloat64()*0.8}, y: c}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// Model is a logistic regression over two features.
type Model struct {
	W [2]float64 `json:"weights"`
	B float64    `json:"bias"`
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// Predict is the probability of class 1.
func (m *Model) Predict(x [2]float64) float64 {
	return sigmoid(m.W[0]*x[0] + m.W[1]*x[1] + m.B)
}

// loss is the mean binary cross-entropy plus the L2 penalty.
func (m *Model) loss(data []sample, l2 float64) float64 {
	const eps = 1e-12
	var s float64
	for _, d := range data {
		p := m.Predict(d.x)
		s -= d.y*math.Log(p+eps) + (1-d.y)*math.Log(1-p+eps)
	}
	return s/float64(len(data)) + l2/2*(m.W[0]*m.W[0]+m.W[1]*m.W[1])
}

func (m *Model) accuracy(data []sample) float64 {
	right := 0
	for _, d := range data {
		if (m.Predict(d.x) >= 0.5) == (d.y == 1) {
			right++
		}
	}
	return float64(right) / float64(len(data))
}

// step runs one mini-batch gradient step.
func (m *Model) step(batch []sample, lr, l2 float64) {
	var gw [2]float64
	var gb float64
	for _, d := range batch {
		e := m.Predict(d.x) - d.y
		gw[0] += e * d.x[0]
		gw[1] += e * d.x[1]
		gb += e
	}
	n := float64(len(batch))
	for i := range gw {
		m.W[i] -= lr * (gw[i]/n + l2*m.W[i])
	}
	m.B -= lr * gb / n
}

// MarshalJSON is the model file: weights and bias.
func (m *Model) save() ([]byte, error) { return json.MarshalIndent(m, "", "  ") }

// confusion counts [actual][predicted] on data.
func (m *Model) confusion(data []sample) [2][2]int {
	var c [2][2]int
	for _, d := range data {
		pred := 0
		if m.Predict(d.x) >= 0.5 {
			pred = 1
		}
		c[int(d.y)][pred]++
	}
	return c
}
