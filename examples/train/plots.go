package main

import (
	"bytes"
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// history keeps the per-epoch losses for the loss curve.
type history struct {
	train, val plotter.XYs
}

func (h *history) add(epoch int, train, val float64) {
	h.train = append(h.train, plotter.XY{X: float64(epoch), Y: train})
	h.val = append(h.val, plotter.XY{X: float64(epoch), Y: val})
}

func render(p *plot.Plot) ([]byte, error) {
	wt, err := p.WriterTo(5*vg.Inch, 4*vg.Inch, "png")
	if err != nil {
		return nil, fmt.Errorf("render plot: %w", err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("render plot: %w", err)
	}
	return buf.Bytes(), nil
}

var (
	blue   = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	orange = color.RGBA{R: 255, G: 127, B: 14, A: 255}
)

func lossPlot(h *history) ([]byte, error) {
	p := plot.New()
	p.Title.Text = "Loss"
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "cross-entropy"
	for _, s := range []struct {
		name string
		xys  plotter.XYs
		c    color.Color
	}{{"train", h.train, blue}, {"validation", h.val, orange}} {
		l, err := plotter.NewLine(s.xys)
		if err != nil {
			return nil, err
		}
		l.Color = s.c
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(s.name, l)
	}
	p.Add(plotter.NewGrid())
	return render(p)
}

// boundaryPlot draws the validation points by class and the line where the
// model's probability is 0.5.
func boundaryPlot(m *Model, data []sample, epoch int) ([]byte, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Decision boundary, epoch %d", epoch)
	p.X.Label.Text = "x1"
	p.Y.Label.Text = "x2"
	var cls [2]plotter.XYs
	for _, d := range data {
		cls[int(d.y)] = append(cls[int(d.y)], plotter.XY{X: d.x[0], Y: d.x[1]})
	}
	for i, c := range []color.Color{blue, orange} {
		s, err := plotter.NewScatter(cls[i])
		if err != nil {
			return nil, err
		}
		s.GlyphStyle.Color = c
		s.GlyphStyle.Shape = draw.CircleGlyph{}
		s.GlyphStyle.Radius = vg.Points(1.5)
		p.Add(s)
		p.Legend.Add(fmt.Sprintf("class %d", i), s)
	}
	if m.W[1] != 0 {
		f := plotter.NewFunction(func(x float64) float64 { return -(m.W[0]*x + m.B) / m.W[1] })
		f.Color = color.Black
		f.Width = vg.Points(1.5)
		p.Add(f)
		p.Legend.Add("p = 0.5", f)
	}
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = -4, 4, -4, 4
	return render(p)
}

// confusionGrid adapts a 2x2 confusion matrix to plotter.GridXYZ; rows are
// the actual class (row 1 drawn on top), columns the predicted one.
type confusionGrid [2][2]int

func (g confusionGrid) Dims() (c, r int)   { return 2, 2 }
func (g confusionGrid) Z(c, r int) float64 { return float64(g[r][c]) }
func (g confusionGrid) X(c int) float64    { return float64(c) }
func (g confusionGrid) Y(r int) float64    { return float64(r) }

func confusionPlot(cm [2][2]int) ([]byte, error) {
	p := plot.New()
	p.Title.Text = "Confusion matrix (validation)"
	p.X.Label.Text = "predicted class"
	p.Y.Label.Text = "actual class"
	h := plotter.NewHeatMap(confusionGrid(cm), palette.Heat(16, 1))
	p.Add(h)
	var xys plotter.XYs
	var labels []string
	for r := range 2 {
		for c := range 2 {
			xys = append(xys, plotter.XY{X: float64(c), Y: float64(r)})
			labels = append(labels, fmt.Sprint(cm[r][c]))
		}
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return nil, err
	}
	p.Add(l)
	p.NominalX("0", "1")
	p.NominalY("0", "1")
	return render(p)
}
