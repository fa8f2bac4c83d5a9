package tracking_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-mlflow/otelcol-mlflow/tracking"
)

// A training program against an MLflow tracking server, its metrics going
// to the collector on localhost:4317. A failed training ends its run as
// FAILED. (Not run here: it needs the server and the collector.)
func Example() {
	ctx := context.Background()
	tracker, err := tracking.New(tracking.Config{
		TrackingURI:    "http://localhost:5000",
		ExperimentName: "cv_experiment",
		RunName:        "run_1",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer tracker.Close(ctx)

	run, err := tracker.StartRun(ctx)
	if err != nil {
		log.Fatal(err)
	}
	train := func() error {
		if err := run.LogParameters(ctx, map[string]any{"learning_rate": 1e-4, "batch_size": 32}); err != nil {
			return err
		}
		for epoch := range 10 {
			loss := 1 / float64(epoch+1)
			if err := run.LogMetrics(map[string]float64{"train_loss": loss}, tracking.Step(int64(epoch))); err != nil {
				return err
			}
		}
		info, err := run.LogModel(ctx, "./model", "cv_model", tracking.RegisterAs("cv"))
		if err != nil {
			return err
		}
		fmt.Println("registered", info.Version.Name, "version", info.Version.Version)
		return nil
	}
	status := tracking.StatusFinished
	if err := train(); err != nil {
		log.Print(err)
		status = tracking.StatusFailed
	}
	report, err := run.End(ctx, status)
	if err != nil {
		log.Fatal(err)
	}
	if !report.Complete() {
		log.Printf("metrics lost: %s", report)
	}
}

// discard is a metric exporter that accepts every point, standing in for
// the collector so that the examples run anywhere.
type discard struct{}

func (discard) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}

func (discard) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}
func (discard) Export(context.Context, *metricdata.ResourceMetrics) error { return nil }
func (discard) ForceFlush(context.Context) error                          { return nil }
func (discard) Shutdown(context.Context) error                            { return nil }

// A run in a local file store, ended as FAILED; the report says what
// became of its metrics.
func ExampleTracker_EndRunWithStatus() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "mlruns-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	tracker, err := tracking.New(tracking.Config{TrackingURI: dir, ExperimentName: "example"},
		tracking.WithMetricExporter(discard{}))
	if err != nil {
		log.Fatal(err)
	}
	defer tracker.Close(ctx)
	run, err := tracker.StartRun(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(run.Info().Status)
	for step := range 3 {
		if err := tracker.LogMetric("loss", 1/float64(step+1), tracking.Step(int64(step))); err != nil {
			log.Fatal(err)
		}
	}
	report, err := tracker.EndRunWithStatus(ctx, tracking.StatusFailed)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(report.Status, report.Sent, "sent,", report.Dropped, "dropped, complete:", report.Complete())
	fmt.Println(tracker.ActiveRun() == nil)
	// Output:
	// RUNNING
	// FAILED 3 sent, 0 dropped, complete: true
	// true
}

// Parameters, a child run and a model in a local file store, which has no
// model registry: the files are logged, the registration fails.
func ExampleRun_LogModel() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "mlruns-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	model := filepath.Join(dir, "weights.bin")
	if err := os.WriteFile(model, []byte{1, 2, 3}, 0o600); err != nil {
		log.Fatal(err)
	}

	tracker, err := tracking.New(tracking.Config{TrackingURI: filepath.Join(dir, "mlruns"), RunName: "sweep"},
		tracking.WithMetricExporter(discard{}))
	if err != nil {
		log.Fatal(err)
	}
	defer tracker.Close(ctx)
	parent, err := tracker.StartRun(ctx)
	if err != nil {
		log.Fatal(err)
	}
	child, err := parent.StartChildRun(ctx, "trial_1")
	if err != nil {
		log.Fatal(err)
	}
	if err := child.LogParameters(ctx, map[string]any{"lr": 0.001, "layers": 3}); err != nil {
		log.Fatal(err)
	}
	info, err := child.LogModel(ctx, model, "net", tracking.RegisterAs("net"))
	fmt.Println(errors.Is(err, tracking.ErrNoRegistry), info.Files, info.Version == nil)
	fmt.Println(child.Info().RunName, "in", parent.Info().RunName, child.Parent() == parent)

	// Ending the parent ends the child too.
	if _, err := parent.End(ctx, tracking.StatusFinished); err != nil {
		log.Fatal(err)
	}
	_, err = child.End(ctx, tracking.StatusFinished)
	fmt.Println(errors.Is(err, tracking.ErrRunEnded))
	// Output:
	// true [net/weights.bin net/MLmodel] true
	// trial_1 in sweep true
	// true
}

func ExampleParseConfig() {
	cfg, err := tracking.ParseConfig([]byte(`
mlflow:
  tracking_uri: "http://localhost:5000"
  experiment_name: "cv_experiment"
  logging:
    metrics: [{name: loss, type: float}]
    parameters: [{name: batch_size, type: int}]
    undeclared: reject
train:
  epochs: 40
`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.ExperimentName, cfg.Logging.Metrics, cfg.Logging.Parameters)
	fmt.Println(cfg.Logging.Undeclared == tracking.UndeclaredReject)
	// Output:
	// cv_experiment [{loss float}] [{batch_size int}]
	// true
}
