// Command train is a small but real training program that uses package
// tracking end to end: it fits a logistic regression on generated data,
// logs parameters, per-epoch metrics (through the local collector), a model
// with its MLmodel descriptor, a loss curve, a confusion matrix and a
// decision boundary per 10 epochs as stepped images.
//
//	go run ./examples/train -config examples/train/config.yaml
//
// With `make run`'s collector listening on localhost:4317 the metrics land
// in the same ./mlruns store as the run, params and artifacts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/otelcol-mlflow/otelcol-mlflow/tracking"
)

// trainConfig is the train: section of the config file.
type trainConfig struct {
	Samples      int     `yaml:"samples"`
	Epochs       int     `yaml:"epochs"`
	BatchSize    int     `yaml:"batch_size"`
	LearningRate float64 `yaml:"learning_rate"`
	L2           float64 `yaml:"l2"`
	Seed         uint64  `yaml:"seed"`
}

func (c trainConfig) validate() error {
	if c.Samples < 10 || c.Epochs < 1 || c.BatchSize < 1 || c.LearningRate <= 0 || c.L2 < 0 {
		return fmt.Errorf("train: need samples >= 10, epochs >= 1, batch_size >= 1, learning_rate > 0, l2 >= 0; got %+v", c)
	}
	return nil
}

func main() {
	configPath := flag.String("config", "examples/train/config.yaml", "YAML file with train: and mlflow: sections")
	outDir := flag.String("out", "", "where model.json and the plots are written (default: a temporary directory)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *configPath, *outDir, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run trains and tracks one run; opts reach tracking.New (tests swap the
// metric exporter).
func run(ctx context.Context, configPath, outDir string, w io.Writer, opts ...tracking.Option) (err error) {
	raw, err := os.ReadFile(configPath)
	if err != nil {
		return err
	}
	var doc struct {
		Train trainConfig `yaml:"train"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %w", configPath, err)
	}
	tc := doc.Train
	if err := tc.validate(); err != nil {
		return err
	}
	mcfg, err := tracking.ParseConfig(raw)
	if err != nil {
		return err
	}
	if outDir == "" {
		if outDir, err = os.MkdirTemp("", "train-"); err != nil {
			return err
		}
		defer os.RemoveAll(outDir)
	}

	tracker, err := tracking.New(mcfg, opts...)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := tracker.Close(context.WithoutCancel(ctx)); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	run, err := tracker.StartRun(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "run %s started in experiment %s\n", run.ID(), run.Info().ExperimentID)
	defer func() {
		// A failed or interrupted training still ends its run, as FAILED.
		if err != nil && tracker.ActiveRun() == run {
			_, _ = run.End(context.WithoutCancel(ctx), tracking.StatusFailed)
		}
	}()

	if err := tracker.LogParameters(ctx, map[string]any{
		"learning_rate": tc.LearningRate, "batch_size": tc.BatchSize, "num_epochs": tc.Epochs,
		"l2": tc.L2, "seed": tc.Seed, "samples": tc.Samples,
	}); err != nil {
		return err
	}

	rng := rand.New(rand.NewPCG(tc.Seed, tc.Seed^0x9e3779b97f4a7c15))
	data := makeData(tc.Samples, rng)
	split := len(data) * 4 / 5
	train, val := data[:split], data[split:]
	var m Model
	var hist history
	for epoch := 1; epoch <= tc.Epochs; epoch++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		rng.Shuffle(len(train), func(i, j int) { train[i], train[j] = train[j], train[i] })
		for i := 0; i < len(train); i += tc.BatchSize {
			m.step(train[i:min(i+tc.BatchSize, len(train))], tc.LearningRate, tc.L2)
		}
		trainLoss, valLoss, valAcc := m.loss(train, tc.L2), m.loss(val, tc.L2), m.accuracy(val)
		hist.add(epoch, trainLoss, valLoss)
		// Never blocks on the network: the points are buffered for the collector.
		if err := tracker.LogMetrics(map[string]float64{
			"train_loss": trainLoss, "val_loss": valLoss, "val_accuracy": valAcc,
		}, tracking.Step(int64(epoch))); err != nil {
			return err
		}
		if epoch%10 == 0 || epoch == tc.Epochs {
			img, err := boundaryPlot(&m, val, epoch)
			if err != nil {
				return err
			}
			if _, err := tracker.LogVisualization(ctx, img, "decision_boundary", tracking.Step(int64(epoch))); err != nil {
				return err
			}
		}
	}

	modelDir := filepath.Join(outDir, "model")
	if err := os.MkdirAll(modelDir, 0o755); err != nil {
		return err
	}
	b, err := m.save()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(modelDir, "model.json"), b, 0o644); err != nil {
		return err
	}
	info, err := tracker.LogModel(ctx, modelDir, "logreg_model",
		tracking.Flavor("go", map[string]any{"data": "model.json", "kind": "logistic_regression"}))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "model logged as %s\n", info.ModelURI)

	lossPNG, err := lossPlot(&hist)
	if err != nil {
		return err
	}
	cmPNG, err := confusionPlot(m.confusion(val))
	if err != nil {
		return err
	}
	for name, img := range map[string][]byte{"loss_curve": lossPNG, "confusion_matrix": cmPNG} {
		if err := os.WriteFile(filepath.Join(outDir, name+".png"), img, 0o644); err != nil {
			return err
		}
		if _, err := tracker.LogVisualization(ctx, img, name); err != nil {
			return err
		}
	}
	if err := tracker.SetNote(ctx, fmt.Sprintf("Logistic regression on %d generated points: validation accuracy %.3f.", tc.Samples, m.accuracy(val))); err != nil {
		return err
	}
	rep, err := tracker.EndRun(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, rep)
	return nil
}
