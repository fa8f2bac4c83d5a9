package mlflowexporter

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// instrumentedStore counts and times every call to the backend.
type instrumentedStore struct {
	backend
	tel *metadata.TelemetryBuilder
}

func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	var ae *mlflow.APIError
	if errors.As(err, &ae) {
		if ae.Code != "" {
			return ae.Code
		}
		return "HTTP_" + strconv.Itoa(ae.HTTPStatus)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "network"
}

func (s *instrumentedStore) record(ctx context.Context, rpc string, start time.Time, err error) {
	attrs := metric.WithAttributes(attribute.String(metadata.AttributeKeyRPC, rpc), attribute.String(metadata.AttributeKeyOutcome, outcome(err)))
	s.tel.ExporterMlflowRequests.Add(ctx, 1, attrs)
	s.tel.ExporterMlflowRequestDuration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(attribute.String(metadata.AttributeKeyRPC, rpc)))
}

func (s *instrumentedStore) GetExperimentByName(ctx context.Context, name string) (*mlflow.Experiment, error) {
	start := time.Now()
	e, err := s.backend.GetExperimentByName(ctx, name)
	s.record(ctx, "experiments/get-by-name", start, err)
	return e, err
}

func (s *instrumentedStore) CreateExperiment(ctx context.Context, name string, tags []mlflow.Tag) (string, error) {
	start := time.Now()
	id, err := s.backend.CreateExperiment(ctx, name, tags)
	s.record(ctx, "experiments/create", start, err)
	return id, err
}

func (s *instrumentedStore) CreateRun(ctx context.Context, req mlflow.CreateRunRequest) (*mlflow.Run, error) {
	start := time.Now()
	r, err := s.backend.CreateRun(ctx, req)
	s.record(ctx, "runs/create", start, err)
	if err == nil {
		s.tel.ExporterMlflowRunsCreated.Add(ctx, 1)
	}
	return r, err
}

func (s *instrumentedStore) GetRun(ctx context.Context, runID string) (*mlflow.Run, error) {
	start := time.Now()
	r, err := s.backend.GetRun(ctx, runID)
	s.record(ctx, "runs/get", start, err)
	return r, err
}

func (s *instrumentedStore) UpdateRun(ctx context.Context, req mlflow.UpdateRunRequest) (*mlflow.RunInfo, error) {
	start := time.Now()
	r, err := s.backend.UpdateRun(ctx, req)
	s.record(ctx, "runs/update", start, err)
	return r, err
}

func (s *instrumentedStore) DeleteRun(ctx context.Context, runID string) error {
	start := time.Now()
	err := s.backend.DeleteRun(ctx, runID)
	s.record(ctx, "runs/delete", start, err)
	return err
}

func (s *instrumentedStore) SearchRuns(ctx context.Context, req mlflow.SearchRunsRequest) (*mlflow.SearchRunsResult, error) {
	start := time.Now()
	r, err := s.backend.SearchRuns(ctx, req)
	s.record(ctx, "runs/search", start, err)
	return r, err
}

func (s *instrumentedStore) LogBatch(ctx context.Context, runID string, b mlflow.Batch) error {
	start := time.Now()
	err := s.backend.LogBatch(ctx, runID, b)
	s.record(ctx, "runs/log-batch", start, err)
	if err == nil {
		s.tel.ExporterMlflowMetricPointsWritten.Add(ctx, int64(len(b.Metrics)))
	}
	return err
}
