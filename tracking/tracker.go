package tracking

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"sync"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/databricks"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/filestore"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
)

// Errors callers may test for.
var (
	// ErrNoActiveRun: a Tracker method needing a run was called outside
	// StartRun ... EndRun.
	ErrNoActiveRun = errors.New("tracking: no active run (call StartRun first)")
	// ErrRunEnded: a Run was used after End.
	ErrRunEnded = errors.New("tracking: run has ended")
	// ErrNoRegistry: the store has no model registry (the local file store).
	ErrNoRegistry = errors.New("tracking: the tracking store has no model registry")
)

// modelRegistry is the model registry part of a store; the REST client
// has it.
type modelRegistry interface {
	CreateRegisteredModel(ctx context.Context, name, description string, tags []mlflow.Tag) (*restclient.RegisteredModel, error)
	CreateModelVersion(ctx context.Context, r restclient.CreateModelVersionRequest) (*restclient.ModelVersion, error)
}

// Option changes how New builds a Tracker: where metrics go and where
// warnings are logged. The store is always the one Config.TrackingURI
// names.
type Option func(*options)

type options struct {
	exporter sdkmetric.Exporter
	logger   *slog.Logger
	now      func() time.Time
}

// WithMetricExporter sends metrics through exp instead of an OTLP exporter
// built from Config.OTLP. The Tracker shuts it down on Close.
//
// EndRun's check that the data landed (OTLP.ConfirmTimeout) is then off
// unless ConfirmTimeout is set.
func WithMetricExporter(exp sdkmetric.Exporter) Option { return func(o *options) { o.exporter = exp } }

// WithLogger receives warnings (undeclared names, dropped metrics, export
// failures); default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Tracker logs runs of one experiment. Its methods act on the active run:
// the most recent StartRun or StartChildRun not yet ended. A Tracker is
// safe for concurrent use; Close it when done.
type Tracker struct {
	cfg       Config
	store     mlflow.Store
	artifacts mlflow.ArtifactStore
	registry  modelRegistry
	closer    io.Closer
	// backendID names the store for the collector (mlflow.BackendAttr);
	// empty when it is not known (Databricks).
	backendID string
	pipe      *pipeline
	logger    *slog.Logger
	now       func() time.Time
	metrics   *declarations
	params    *declarations

	expOnce sync.Mutex
	expID   string

	mu     sync.Mutex
	stack  []*Run // open runs in start order; the last is active
	closed bool
}

// New validates cfg, opens the store TrackingURI names and the OTLP
// exporter. It does not contact the collector (metrics are buffered until
// it answers) and does not create the experiment (StartRun does).
func New(cfg Config, opts ...Option) (*Tracker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{logger: slog.Default(), now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.exporter != nil && cfg.OTLP.ConfirmTimeout == 0 {
		// A custom exporter may lead anywhere: confirm only when asked.
		cfg.OTLP.ConfirmTimeout = -1
	}
	cfg = cfg.withDefaults()
	t := &Tracker{cfg: cfg, logger: o.logger, now: o.now}
	t.metrics = newDeclarations("metric", cfg.Logging.Metrics, cfg.Logging.Undeclared, o.logger)
	t.params = newDeclarations("parameter", cfg.Logging.Parameters, cfg.Logging.Undeclared, o.logger)
	if err := t.openStore(); err != nil {
		return nil, err
	}
	exp := o.exporter
	if exp == nil {
		var err error
		if exp, err = newExporter(context.Background(), cfg.OTLP); err != nil {
			t.closeStore()
			return nil, fmt.Errorf("tracking: %w", err)
		}
	}
	t.pipe = newPipeline(exp, cfg.OTLP.ExportInterval, cfg.OTLP.BufferSize, o.logger)
	return t, nil
}

// openStore picks the backend from the tracking URI as MLflow does.
func (t *Tracker) openStore() error {
	uri := t.cfg.TrackingURI
	if uri == "" {
		uri = os.Getenv(restclient.EnvTrackingURI)
	}
	if uri == "" {
		uri = "mlruns"
	}
	t.cfg.TrackingURI = uri
	switch {
	case databricks.IsURI(uri):
		return t.openDatabricks(uri)
	case filestore.IsFileURI(uri):
		fs, err := filestore.Open(uri)
		if err != nil {
			return fmt.Errorf("tracking: open local store: %w", err)
		}
		t.store, t.closer, t.artifacts = fs, fs, fs
		t.backendID = mlflow.FileBackendID(fs.Root())
	default:
		c, err := restclient.New(restclient.ConfigFromEnv(uri, os.Getenv))
		if err != nil {
			return fmt.Errorf("tracking: %w", err)
		}
		t.store, t.closer, t.registry = c, c, c
		t.backendID = mlflow.ServerBackendID(uri)
		t.artifacts = c.Artifacts(restclient.DefaultRetryPolicy())
	}
	return nil
}

func (t *Tracker) closeStore() {
	if t.closer != nil {
		_ = t.closer.Close()
	}
}

// experimentID resolves (creating when absent) the configured experiment
// once per Tracker.
func (t *Tracker) experimentID(ctx context.Context) (string, error) {
	t.expOnce.Lock()
	defer t.expOnce.Unlock()
	if t.expID != "" {
		return t.expID, nil
	}
	if t.cfg.ExperimentName == "" {
		t.expID = "0"
		return t.expID, nil
	}
	var id string
	err := retry(ctx, func() error {
		var err error
		id, err = mlflow.GetOrCreateExperiment(ctx, t.store, t.cfg.ExperimentName, nil)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("tracking: experiment %q: %w", t.cfg.ExperimentName, err)
	}
	t.expID = id
	return id, nil
}

// StartRun creates a run named Config.RunName and makes it the active run.
// The run exists in the store when StartRun returns, before any metric.
// Runs may be started while another is active (they are then siblings, not
// children; use StartChildRun for nesting).
func (t *Tracker) StartRun(ctx context.Context) (*Run, error) {
	return t.startRun(ctx, t.cfg.RunName, nil)
}

// StartChildRun starts a run nested under the active run (MLflow's
// mlflow.parentRunId tag) and makes it the active run until it ends.
func (t *Tracker) StartChildRun(ctx context.Context, name string) (*Run, error) {
	parent, err := t.active()
	if err != nil {
		return nil, err
	}
	return t.startRun(ctx, name, parent)
}

func (t *Tracker) startRun(ctx context.Context, name string, parent *Run) (*Run, error) {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return nil, errors.New("tracking: tracker is closed")
	}
	expID, err := t.experimentID(ctx)
	if err != nil {
		return nil, err
	}
	tags := t.systemTags()
	if parent != nil {
		tags = append(tags, mlflow.Tag{Key: "mlflow.parentRunId", Value: parent.info.RunID})
	}
	req := mlflow.CreateRunRequest{ExperimentID: expID, RunName: name, StartTime: t.now().UnixMilli(), Tags: mlflow.UniqueTags(tags), UserID: currentUser()}
	var created *mlflow.Run
	err = retry(ctx, func() error {
		var err error
		created, err = t.store.CreateRun(ctx, req)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tracking: create run %q: %w", name, err)
	}
	parentID := ""
	if parent != nil {
		parentID = parent.info.RunID
	}
	res, err := runResource(ctx, t.cfg.OTLP.ServiceName, t.backendID, &created.Info, parentID)
	if err != nil {
		return nil, err
	}
	r := &Run{t: t, info: created.Info, parent: parent, sink: &sink{res: res}, params: map[string]string{}}
	t.mu.Lock()
	t.stack = append(t.stack, r)
	t.mu.Unlock()
	return r, nil
}

// ResumeRun continues an existing run (after a restart, say): it is set
// back to RUNNING and becomes the active run, its parent link kept for the
// collector. Params already logged are remembered, so logging the same
// values again sends nothing. A deleted run cannot be resumed.
func (t *Tracker) ResumeRun(ctx context.Context, runID string) (*Run, error) {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return nil, errors.New("tracking: tracker is closed")
	}
	var got *mlflow.Run
	err := retry(ctx, func() error {
		var err error
		got, err = t.store.GetRun(ctx, runID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tracking: resume run %s: %w", runID, err)
	}
	if got.Info.LifecycleStage == mlflow.LifecycleDeleted {
		return nil, fmt.Errorf("tracking: resume run %s: the run is deleted", runID)
	}
	if got.Info.Status != mlflow.RunStatusRunning {
		err := retry(ctx, func() error {
			_, err := t.store.UpdateRun(ctx, mlflow.UpdateRunRequest{RunID: runID, Status: mlflow.RunStatusRunning})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("tracking: resume run %s: %w", runID, err)
		}
		got.Info.Status = mlflow.RunStatusRunning
	}
	parentID, _ := got.Tag("mlflow.parentRunId")
	res, err := runResource(ctx, t.cfg.OTLP.ServiceName, t.backendID, &got.Info, parentID)
	if err != nil {
		return nil, err
	}
	r := &Run{t: t, info: got.Info, sink: &sink{res: res}, params: map[string]string{}}
	for _, p := range got.Data.Params {
		r.params[p.Key] = p.Value
	}
	t.mu.Lock()
	t.stack = append(t.stack, r)
	t.mu.Unlock()
	return r, nil
}

// systemTags are MLflow's source tags plus the configured tags.
func (t *Tracker) systemTags() []mlflow.Tag {
	tags := []mlflow.Tag{
		{Key: "mlflow.source.type", Value: "LOCAL"},
		{Key: "mlflow.source.name", Value: filepath.Base(os.Args[0])},
	}
	if u := currentUser(); u != "" {
		tags = append(tags, mlflow.Tag{Key: "mlflow.user", Value: u})
	}
	// Config tags may name a system tag (mlflow.user, say) to override it;
	// runs/create refuses a repeated key, so each key goes once, the
	// configured value winning. Sorted: map order must not decide.
	for _, k := range slices.Sorted(maps.Keys(t.cfg.Tags)) {
		tags = append(tags, mlflow.Tag{Key: k, Value: mlflow.TruncateRunes(t.cfg.Tags[k], mlflow.MaxTagValueLength)})
	}
	return mlflow.UniqueTags(tags)
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// ActiveRun returns the active run, or nil.
func (t *Tracker) ActiveRun() *Run {
	r, _ := t.active()
	return r
}

func (t *Tracker) active() (*Run, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.stack) == 0 {
		return nil, ErrNoActiveRun
	}
	return t.stack[len(t.stack)-1], nil
}

// LogParameters logs params on the active run; see Run.LogParameters.
func (t *Tracker) LogParameters(ctx context.Context, params map[string]any) error {
	r, err := t.active()
	if err != nil {
		return err
	}
	return r.LogParameters(ctx, params)
}

// LogMetrics logs metrics on the active run; see Run.LogMetrics.
func (t *Tracker) LogMetrics(metrics map[string]float64, opts ...LogOption) error {
	r, err := t.active()
	if err != nil {
		return err
	}
	return r.LogMetrics(metrics, opts...)
}

// LogMetric logs one metric on the active run.
func (t *Tracker) LogMetric(key string, value float64, opts ...LogOption) error {
	return t.LogMetrics(map[string]float64{key: value}, opts...)
}

// SetTags sets tags on the active run.
func (t *Tracker) SetTags(ctx context.Context, tags map[string]string) error {
	r, err := t.active()
	if err != nil {
		return err
	}
	return r.SetTags(ctx, tags)
}

// SetTag sets one tag on the active run.
func (t *Tracker) SetTag(ctx context.Context, key, value string) error {
	return t.SetTags(ctx, map[string]string{key: value})
}

// SetNote sets the active run's description (shown as the run's notes).
func (t *Tracker) SetNote(ctx context.Context, markdown string) error {
	r, err := t.active()
	if err != nil {
		return err
	}
	return r.SetNote(ctx, markdown)
}

// LogArtifact uploads a file or directory to the active run.
func (t *Tracker) LogArtifact(ctx context.Context, localPath, artifactDir string) error {
	r, err := t.active()
	if err != nil {
		return err
	}
	return r.LogArtifact(ctx, localPath, artifactDir)
}

// LogModel logs a model on the active run; see Run.LogModel.
func (t *Tracker) LogModel(ctx context.Context, localPath, name string, opts ...ModelOption) (*ModelInfo, error) {
	r, err := t.active()
	if err != nil {
		return nil, err
	}
	return r.LogModel(ctx, localPath, name, opts...)
}

// LogVisualization stores an image on the active run; see
// Run.LogVisualization.
func (t *Tracker) LogVisualization(ctx context.Context, image []byte, name string, opts ...LogOption) (string, error) {
	r, err := t.active()
	if err != nil {
		return "", err
	}
	return r.LogVisualization(ctx, image, name, opts...)
}

// EndRun ends the active run as FINISHED; see Run.End.
func (t *Tracker) EndRun(ctx context.Context) (*EndReport, error) {
	return t.EndRunWithStatus(ctx, StatusFinished)
}

// EndRunWithStatus ends the active run with status (StatusFinished,
// StatusFailed or StatusKilled); the enclosing run, if any, becomes active
// again.
func (t *Tracker) EndRunWithStatus(ctx context.Context, status RunStatus) (*EndReport, error) {
	r, err := t.active()
	if err != nil {
		return nil, err
	}
	return r.End(ctx, status)
}

func (t *Tracker) forget(r *Run) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := len(t.stack) - 1; i >= 0; i-- {
		if t.stack[i] == r {
			t.stack = append(t.stack[:i], t.stack[i+1:]...)
			break
		}
	}
}

// Close ends runs still open as KILLED (innermost first; a program that
// meant to finish calls EndRun), flushes buffered metrics for at most
// Config.OTLP.FlushTimeout (or until ctx ends), and closes the exporter and
// the store. It returns an error naming the
// metric points that could not be delivered.
func (t *Tracker) Close(ctx context.Context) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	openRuns := slices.Clone(t.stack)
	t.mu.Unlock()
	var errs []error
	for i := len(openRuns) - 1; i >= 0; i-- {
		if _, err := openRuns[i].End(ctx, StatusKilled); err != nil && !errors.Is(err, ErrRunEnded) {
			errs = append(errs, err)
		}
	}
	lost, err := t.pipe.shutdown(ctx, t.cfg.OTLP.FlushTimeout)
	if err != nil {
		errs = append(errs, fmt.Errorf("tracking: close metric exporter: %w", err))
	}
	if lost > 0 {
		errs = append(errs, fmt.Errorf("tracking: %d metric points could not be delivered to the collector and are lost", lost))
	}
	t.closeStore()
	return errors.Join(errs...)
}

// retry runs a store call again on answers that may succeed later (408,
// 429, 5xx, network errors), a few times with growing waits and the
// server's Retry-After. The REST client leaves retries to its callers.
func retry(ctx context.Context, fn func() error) error {
	wait := 200 * time.Millisecond
	var err error
	for attempt := 1; attempt <= 4; attempt++ {
		if err = fn(); err == nil || !retryable(err) || attempt == 4 {
			return err
		}
		d := max(wait, min(mlflow.RetryAfter(err), 30*time.Second))
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return err
		case <-timer.C:
		}
		wait *= 3
	}
	return err
}

func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var apiErr *mlflow.APIError
	if errors.As(err, &apiErr) {
		return mlflow.IsRetryable(err)
	}
	var urlErr *url.Error
	return errors.As(err, &urlErr)
}
