package filestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

const (
	metricsDir   = "metrics"
	paramsDir    = "params"
	artifactsDir = "artifacts"

	// runNameTag is MLFLOW_RUN_NAME, kept in sync with meta.yaml's run_name.
	runNameTag = "mlflow.runName"
)

type runLoc struct {
	dir  string
	meta *runMeta
}

// listRunMetas reads the runs of one experiment directory, skipping reserved
// folders and directories without a readable meta.yaml, as MLflow's
// _list_run_infos does; a run whose recorded experiment differs is ignored.
func listRunMetas(expDir, expID string) ([]runLoc, error) {
	entries, err := os.ReadDir(expDir)
	if err != nil {
		return nil, fmt.Errorf("list runs of experiment %s: %w", expID, err)
	}
	var out []runLoc
	for _, e := range entries {
		if !e.IsDir() || reservedExperimentFolders[e.Name()] || !runIDPattern.MatchString(e.Name()) {
			continue
		}
		dir := filepath.Join(expDir, e.Name())
		meta, err := readRunMeta(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if meta.ExperimentID != expID {
			continue
		}
		out = append(out, runLoc{dir: dir, meta: meta})
	}
	return out, nil
}

// findRun locates a run in any experiment, active or deleted. Callers hold
// s.layout.
func (s *Store) findRun(runID string) (runLoc, error) {
	if cached, ok := s.cachedRunDir(runID); ok {
		if loc, err := s.loadRun(cached, runID); err == nil {
			return loc, nil
		}
	}
	locs, err := s.experimentLocs()
	if err != nil {
		return runLoc{}, err
	}
	for _, exp := range locs {
		loc, err := s.loadRun(exp.dir, runID)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return runLoc{}, err
		}
		s.rememberRun(runID, exp.dir)
		return loc, nil
	}
	return runLoc{}, notFound("Run '%s' not found", runID)
}

func (s *Store) loadRun(expDir, runID string) (runLoc, error) {
	dir := filepath.Join(expDir, runID)
	meta, err := readRunMeta(dir)
	if err != nil {
		return runLoc{}, err
	}
	if meta.ExperimentID != filepath.Base(expDir) {
		return runLoc{}, mlflow.NewError(mlflow.ErrorCodeInvalidState, "Run '%s' metadata is in invalid state.", runID)
	}
	return runLoc{dir: dir, meta: meta}, nil
}

func checkActive(loc runLoc) error {
	if loc.meta.info().LifecycleStage != mlflow.LifecycleActive {
		return invalidParam("The run %s must be in 'active' lifecycle_stage.", loc.meta.info().RunID)
	}
	return nil
}

// CreateRun creates a RUNNING run. Like MLflow it sets the mlflow.runName
// tag, generating a name when neither RunName nor that tag gives one, and
// rejects the two disagreeing. A zero StartTime means now.
func (s *Store) CreateRun(ctx context.Context, req mlflow.CreateRunRequest) (*mlflow.Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	expID := req.ExperimentID
	if expID == "" {
		expID = defaultExperimentID
	}
	if err := validateExperimentID(expID); err != nil {
		return nil, err
	}
	if err := validateTags(req.Tags); err != nil {
		return nil, err
	}
	if err := checkKeyFolders("tag", tagKeySet(req.Tags)); err != nil {
		return nil, err
	}
	tags := append([]mlflow.Tag(nil), req.Tags...)
	tagName, hasTagName := "", false
	for _, t := range tags {
		if t.Key == runNameTag {
			tagName, hasTagName = t.Value, true
		}
	}
	if req.RunName != "" && hasTagName && req.RunName != tagName {
		return nil, invalidParam("Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='%s', mlflow.runName='%s').", req.RunName, tagName)
	}
	name := req.RunName
	if name == "" {
		name = tagName
	}
	if name == "" {
		name = s.ids.NewRunName()
	}
	if n := utf8.RuneCountInString(name); n > mlflow.MaxTagValueLength {
		return nil, invalidParam("Run name is %d characters, limit %d", n, mlflow.MaxTagValueLength)
	}
	if !hasTagName {
		tags = append(tags, mlflow.Tag{Key: runNameTag, Value: name})
	}
	start := req.StartTime
	if start == 0 {
		start = s.nowMillis()
	}

	s.layout.RLock()
	defer s.layout.RUnlock()
	expDir, deleted, err := s.experimentDir(expID)
	if mlflow.IsNotFound(err) {
		return nil, notFound("Could not create run under experiment with ID %s - no such experiment exists.", expID)
	}
	if err != nil {
		return nil, fmt.Errorf("create run: %w", err)
	}
	exp, err := readExperimentMeta(expDir)
	if err != nil {
		return nil, fmt.Errorf("create run: read experiment %s: %w", expID, err)
	}
	if deleted || exp.experiment().LifecycleStage != mlflow.LifecycleActive {
		return nil, mlflow.NewError(mlflow.ErrorCodeInvalidState, "Could not create run under non-active experiment with ID %s.", expID)
	}
	for attempt := 0; attempt < 5; attempt++ {
		runID := s.ids.NewRunID()
		if err := validateRunID(runID); err != nil || reservedExperimentFolders[runID] {
			return nil, fmt.Errorf("create run: id generator returned invalid run id %q", runID)
		}
		runDir := filepath.Join(expDir, runID)
		if err := os.Mkdir(runDir, 0o755); errors.Is(err, fs.ErrExist) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("create run: %w", err)
		}
		meta := &runMeta{
			ArtifactURI:    runArtifactURI(exp.ArtifactLocation, runID),
			ExperimentID:   expID,
			LifecycleStage: mlflow.LifecycleActive,
			RunID:          runID,
			RunName:        name,
			RunUUID:        runID,
			StartTime:      int64p(start),
			UserID:         req.UserID,
			Deleted:        deletedTime{present: true},
		}
		unlock := s.lockRun(runID)
		err := s.populateRun(runDir, meta, tags)
		unlock()
		if err != nil {
			return nil, fmt.Errorf("create run %s: %w", runID, err)
		}
		s.rememberRun(runID, expDir)
		return s.readRun(runLoc{dir: runDir, meta: meta}, true)
	}
	return nil, errors.New("create run: no free run id after 5 attempts")
}

// populateRun fills a new run directory; meta.yaml comes last so readers
// never see a run without its initial tags, and a crash leaves a directory
// MLflow skips as malformed rather than a run missing its name.
func (s *Store) populateRun(runDir string, meta *runMeta, tags []mlflow.Tag) error {
	for _, d := range []string{metricsDir, paramsDir, artifactsDir, tagsDir} {
		if err := os.Mkdir(filepath.Join(runDir, d), 0o755); err != nil {
			return err
		}
	}
	for _, t := range tags {
		if err := writeTag(runDir, t); err != nil {
			return err
		}
	}
	return writeMeta(runDir, meta.mapping())
}

// GetRun returns the run, active or deleted, with the latest value of each
// metric (highest step, then timestamp, then value, as MLflow picks it).
func (s *Store) GetRun(ctx context.Context, runID string) (*mlflow.Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateRunID(runID); err != nil {
		return nil, err
	}
	var run *mlflow.Run
	err := s.withRun(runID, runReader, func(loc runLoc) (err error) {
		run, err = s.readRun(loc, true)
		return err
	})
	return run, err
}

func (s *Store) readRun(loc runLoc, withMetrics bool) (*mlflow.Run, error) {
	run := &mlflow.Run{Info: loc.meta.info()}
	params, err := readKeyValues(filepath.Join(loc.dir, paramsDir))
	if err != nil {
		return nil, fmt.Errorf("read params of run %s: %w", run.Info.RunID, err)
	}
	for _, kv := range params {
		run.Data.Params = append(run.Data.Params, mlflow.Param{Key: kv.key, Value: kv.value})
	}
	tags, err := readKeyValues(filepath.Join(loc.dir, tagsDir))
	if err != nil {
		return nil, fmt.Errorf("read tags of run %s: %w", run.Info.RunID, err)
	}
	for _, kv := range tags {
		run.Data.Tags = append(run.Data.Tags, mlflow.Tag{Key: kv.key, Value: kv.value})
	}
	if run.Info.RunName == "" {
		run.Info.RunName, _ = run.Tag(runNameTag)
	}
	if withMetrics {
		if run.Data.Metrics, err = readLatestMetrics(filepath.Join(loc.dir, metricsDir)); err != nil {
			return nil, fmt.Errorf("read metrics of run %s: %w", run.Info.RunID, err)
		}
	}
	return run, nil
}

func readLatestMetrics(dir string) ([]mlflow.Metric, error) {
	var out []mlflow.Metric
	err := walkKeys(dir, func(path, key string) error {
		hist, err := readMetricFile(path, key)
		if err != nil {
			return err
		}
		if len(hist) == 0 {
			return nil
		}
		latest := hist[0]
		for _, m := range hist[1:] {
			if metricAfter(m, latest) {
				latest = m
			}
		}
		out = append(out, latest)
		return nil
	})
	return out, err
}

// metricAfter orders points as Python's max over (step, timestamp, value)
// tuples: NaN never compares greater, so the first of equal points stays.
func metricAfter(a, b mlflow.Metric) bool {
	if a.Step != b.Step {
		return a.Step > b.Step
	}
	if a.Timestamp != b.Timestamp {
		return a.Timestamp > b.Timestamp
	}
	return a.Value > b.Value
}

func readMetricFile(path, key string) ([]mlflow.Metric, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []mlflow.Metric
	lineNo := 0
	err = splitMetricLines(data, func(line []byte) error {
		lineNo++
		m, err := parseMetricLine(key, line)
		if err != nil {
			return mlflow.NewError(mlflow.ErrorCodeInternalError, "Metric '%s' is malformed at line %d: %v", key, lineNo, err)
		}
		out = append(out, m)
		return nil
	})
	return out, err
}

// UpdateRun sets the status, end time and name given (zero fields are left
// alone); a new name also rewrites the mlflow.runName tag. A deleted run
// cannot be updated.
func (s *Store) UpdateRun(ctx context.Context, req mlflow.UpdateRunRequest) (*mlflow.RunInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateRunID(req.RunID); err != nil {
		return nil, err
	}
	if req.Status != "" && !req.Status.Valid() {
		return nil, invalidParam("Invalid run status %q", req.Status)
	}
	if n := utf8.RuneCountInString(req.RunName); n > mlflow.MaxTagValueLength {
		return nil, invalidParam("Run name is %d characters, limit %d", n, mlflow.MaxTagValueLength)
	}
	var info mlflow.RunInfo
	err := s.withRun(req.RunID, runWriter, func(loc runLoc) error {
		if err := checkActive(loc); err != nil {
			return err
		}
		if err := s.updateRunMeta(loc, req); err != nil {
			return fmt.Errorf("update run %s: %w", req.RunID, err)
		}
		info = loc.meta.info()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &info, nil
}

// updateRunMeta applies req to loc.meta and persists it. Callers hold the
// run lock.
func (s *Store) updateRunMeta(loc runLoc, req mlflow.UpdateRunRequest) error {
	if req.Status != "" {
		n := statusNumbers[req.Status]
		loc.meta.Status = &n
	}
	if req.EndTime != 0 {
		loc.meta.EndTime = int64p(req.EndTime)
	}
	if req.RunName != "" {
		loc.meta.RunName = req.RunName
		if err := writeTag(loc.dir, mlflow.Tag{Key: runNameTag, Value: req.RunName}); err != nil {
			return err
		}
	}
	return rewriteRunMeta(loc, deletedTime{})
}

// rewriteRunMeta persists loc.meta, with deleted as its deleted_time.
// Callers hold the run lock, or s.layout for writing.
func rewriteRunMeta(loc runLoc, deleted deletedTime) error {
	loc.meta.Deleted = deleted
	return writeMeta(loc.dir, loc.meta.mapping())
}

// DeleteRun marks the run deleted (lifecycle_stage and deleted_time); its
// files stay until `mlflow gc`.
func (s *Store) DeleteRun(ctx context.Context, runID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateRunID(runID); err != nil {
		return err
	}
	return s.withRun(runID, runWriter, func(loc runLoc) error {
		loc.meta.LifecycleStage = mlflow.LifecycleDeleted
		if err := rewriteRunMeta(loc, deletedTime{present: true, value: int64p(s.nowMillis())}); err != nil {
			return fmt.Errorf("delete run %s: %w", runID, err)
		}
		return nil
	})
}

func validateBatch(b mlflow.Batch) error {
	if len(b.Metrics) > mlflow.MaxMetricsPerBatch {
		return invalidParam("A batch logging request can contain at most %d metrics. Got %d metrics.", mlflow.MaxMetricsPerBatch, len(b.Metrics))
	}
	if len(b.Params) > mlflow.MaxParamsPerBatch {
		return invalidParam("A batch logging request can contain at most %d params. Got %d params.", mlflow.MaxParamsPerBatch, len(b.Params))
	}
	if len(b.Tags) > mlflow.MaxTagsPerBatch {
		return invalidParam("A batch logging request can contain at most %d tags. Got %d tags.", mlflow.MaxTagsPerBatch, len(b.Tags))
	}
	if n := b.Len(); n > mlflow.MaxEntitiesPerBatch {
		return invalidParam("A batch logging request can contain at most %d total metrics, params, and tags. Got %d.", mlflow.MaxEntitiesPerBatch, n)
	}
	// Batches repeat a handful of keys many times; check each key once.
	validKeys := make(map[string]bool)
	for _, m := range b.Metrics {
		if !validKeys[m.Key] {
			if err := mlflow.ValidateKey(m.Key); err != nil {
				return invalidParam("Invalid metric name: %v", err)
			}
			validKeys[m.Key] = true
		}
		if m.Timestamp < 0 {
			return invalidParam("Got invalid timestamp %d for metric '%s'. Timestamp must be a nonnegative long (64-bit integer)", m.Timestamp, m.Key)
		}
	}
	seen := make(map[string]bool, len(b.Params))
	var dupes []string
	for _, p := range b.Params {
		if err := mlflow.ValidateKey(p.Key); err != nil {
			return invalidParam("Invalid param name: %v", err)
		}
		if n := utf8.RuneCountInString(p.Value); n > mlflow.MaxParamValueLength {
			return invalidParam("Param value for key %q is %d characters, limit %d", p.Key, n, mlflow.MaxParamValueLength)
		}
		if seen[p.Key] {
			dupes = append(dupes, p.Key)
		}
		seen[p.Key] = true
	}
	if len(dupes) > 0 {
		return invalidParam("Duplicate parameter keys have been submitted: %q. Please ensure the request contains only one param value per param key.", dupes)
	}
	if err := validateTags(b.Tags); err != nil {
		return err
	}
	paramKeys, tagKeys := make(map[string]bool), make(map[string]bool)
	for _, p := range b.Params {
		paramKeys[p.Key] = true
	}
	for _, t := range b.Tags {
		tagKeys[t.Key] = true
	}
	for kind, keys := range map[string]map[string]bool{"metric": validKeys, "param": paramKeys, "tag": tagKeys} {
		if err := checkKeyFolders(kind, keys); err != nil {
			return err
		}
	}
	return nil
}

// LogBatch writes params (write-once), metrics (appended, one write per key)
// and tags, in MLflow's order. Everything is validated before anything is
// written, and params are checked against existing values first, so a
// rejected batch leaves the run untouched.
func (s *Store) LogBatch(ctx context.Context, runID string, b mlflow.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return errors.New("log batch: file store is closed")
	}
	if err := validateRunID(runID); err != nil {
		return err
	}
	if err := validateBatch(b); err != nil {
		return err
	}
	return s.withRun(runID, runWriter, func(loc runLoc) error {
		return s.writeBatch(loc, runID, b)
	})
}

// writeBatch is LogBatch once the run is found. Callers hold the run lock.
func (s *Store) writeBatch(loc runLoc, runID string, b mlflow.Batch) error {
	if err := checkActive(loc); err != nil {
		return err
	}
	for _, p := range b.Params {
		if err := checkParam(loc.dir, runID, p); err != nil {
			return err
		}
	}
	for _, p := range b.Params {
		if err := writeParam(loc.dir, runID, p); err != nil {
			return err
		}
	}
	if err := s.appendMetrics(loc.dir, b.Metrics); err != nil {
		return fmt.Errorf("log batch to run %s: %w", runID, err)
	}
	for _, t := range b.Tags {
		if err := writeTag(loc.dir, t); err != nil {
			return err
		}
		if t.Key == runNameTag && t.Value != "" && t.Value != loc.meta.RunName {
			if err := s.updateRunMeta(loc, mlflow.UpdateRunRequest{RunID: runID, RunName: t.Value}); err != nil {
				return fmt.Errorf("log batch to run %s: %w", runID, err)
			}
		}
	}
	return nil
}

func paramPath(runDir, key string) string {
	return filepath.Join(runDir, paramsDir, filepath.FromSlash(key))
}

func changedParamError(runID, key string) error {
	// The values stay out of the message: params may carry attribute values
	// that should not reach logs.
	return invalidParam("Changing param values is not allowed. Param with key='%s' was already logged with a different value for run ID='%s'.", key, runID)
}

// checkParam fails if the param exists with another value.
func checkParam(runDir, runID string, p mlflow.Param) error {
	cur, err := os.ReadFile(paramPath(runDir, p.Key))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case isPathConflict(err):
		return keyPathError("Param", p.Key)
	case err != nil:
		return fmt.Errorf("read param %q: %w", p.Key, err)
	case string(cur) != p.Value:
		return changedParamError(runID, p.Key)
	}
	return nil
}

// writeParam creates the param file atomically and exclusively; if another
// writer got there first, the values must agree.
func writeParam(runDir, runID string, p mlflow.Param) error {
	created, err := createWithContent(runDir, paramPath(runDir, p.Key), []byte(p.Value), true)
	if isPathConflict(err) {
		return keyPathError("Param", p.Key)
	}
	if err != nil {
		return fmt.Errorf("write param %q: %w", p.Key, err)
	}
	if created {
		return nil
	}
	return checkParam(runDir, runID, p)
}

// appendMetrics appends each key's points with a single write on an O_APPEND
// descriptor, so a crash loses whole batches of a key, never half a line
// (short of a torn write at power loss, which repairTornTail cleans up).
func (s *Store) appendMetrics(runDir string, metrics []mlflow.Metric) error {
	if len(metrics) == 0 {
		return nil
	}
	var order []string
	counts := make(map[string]int)
	for _, m := range metrics {
		if counts[m.Key] == 0 {
			order = append(order, m.Key)
		}
		counts[m.Key]++
	}
	// Lines are 20-64 bytes (13-digit ts, up to 24-char float, step).
	lines := make(map[string][]byte, len(order))
	for _, m := range metrics {
		buf, ok := lines[m.Key]
		if !ok {
			buf = make([]byte, 0, 64*counts[m.Key])
		}
		lines[m.Key] = appendMetricLine(buf, m)
	}
	for _, key := range order {
		if err := s.appendFile(runDir, filepath.Join(runDir, metricsDir, filepath.FromSlash(key)), lines[key]); err != nil {
			if isPathConflict(err) {
				return keyPathError("Metric", key)
			}
			return fmt.Errorf("append metric %q: %w", key, err)
		}
	}
	return nil
}

func (s *Store) appendFile(runDir, path string, data []byte) error {
	e := s.fds.get(path)
	if e == nil {
		// A new file appears with its first lines already in it, so MLflow
		// never reads an empty metric file (which it rejects).
		created, err := createWithContent(runDir, path, data, false)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		if !created {
			if err := repairTornTail(f); err != nil {
				f.Close()
				return err
			}
		}
		e = s.fds.put(path, f)
		if created {
			s.fds.release(e)
			return nil
		}
	}
	defer s.fds.release(e)
	if _, err := e.f.Write(data); err != nil {
		s.fds.drop(path)
		return err
	}
	return nil
}

// GetMetricHistory returns every point of the metric in file order; an
// unknown key gives an empty history.
func (s *Store) GetMetricHistory(ctx context.Context, runID, key string) ([]mlflow.Metric, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateRunID(runID); err != nil {
		return nil, err
	}
	if err := mlflow.ValidateKey(key); err != nil {
		return nil, invalidParam("Invalid metric name: %v", err)
	}
	var hist []mlflow.Metric
	err := s.withRun(runID, runReader, func(loc runLoc) (err error) {
		hist, err = readMetricFile(filepath.Join(loc.dir, metricsDir, filepath.FromSlash(key)), key)
		if errors.Is(err, fs.ErrNotExist) || isPathConflict(err) {
			hist = nil
			return nil
		}
		return err
	})
	return hist, err
}

// Ensure the Store satisfies the interface the exporter uses.
var _ mlflow.Store = (*Store)(nil)
