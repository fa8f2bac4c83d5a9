package mlflowtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// sqlMaxDouble is what the SQL store writes for +Inf (and its negation for
// -Inf): SQL columns cannot hold infinities.
const sqlMaxDouble = 1.7976931348623157e308

type metricPoint struct {
	key       string
	value     float64 // NaN stored as 0 with isNaN, as the SQL store does
	isNaN     bool
	timestamp int64
	step      int64
}

type runState struct {
	info    mlflow.RunInfo
	params  []mlflow.Param
	tags    []mlflow.Tag
	keys    []string // metric keys in first-logged order
	history map[string][]mlflow.Metric
	latest  map[string]metricPoint
	seen    map[metricPoint]bool
}

func (r *runState) tag(key string) (int, bool) {
	for i, t := range r.tags {
		if t.Key == key {
			return i, true
		}
	}
	return -1, false
}

func (r *runState) setTag(t mlflow.Tag) {
	if i, ok := r.tag(t.Key); ok {
		r.tags[i].Value = t.Value
	} else {
		r.tags = append(r.tags, t)
	}
	if t.Key == tagRunName {
		r.info.RunName = t.Value
	}
}

func (r *runState) param(key string) (string, bool) {
	for _, p := range r.params {
		if p.Key == key {
			return p.Value, true
		}
	}
	return "", false
}

func pointOf(m mlflow.Metric) metricPoint {
	p := metricPoint{key: m.Key, value: m.Value, timestamp: m.Timestamp, step: m.Step}
	switch {
	case math.IsNaN(m.Value):
		p.value, p.isNaN = 0, true
	case math.IsInf(m.Value, 1):
		p.value = sqlMaxDouble
	case math.IsInf(m.Value, -1):
		p.value = -sqlMaxDouble
	}
	return p
}

func (p metricPoint) metric() mlflow.Metric {
	v := p.value
	if p.isNaN {
		v = math.NaN()
	}
	return mlflow.Metric{Key: p.key, Value: v, Timestamp: p.timestamp, Step: p.step}
}

// newerThan is the SQL store's latest-metric rule: compare (step, timestamp,
// value) lexicographically; NaN compares as its stored 0.
func (p metricPoint) newerThan(q metricPoint) bool {
	if p.step != q.step {
		return p.step > q.step
	}
	if p.timestamp != q.timestamp {
		return p.timestamp > q.timestamp
	}
	return p.value > q.value
}

// logMetric appends a point unless the identical point is already stored:
// the SQL store's primary key (run, key, timestamp, step, value, is_nan)
// makes a retried point a no-op.
func (r *runState) logMetric(m mlflow.Metric) {
	p := pointOf(m)
	if r.seen[p] {
		return
	}
	r.seen[p] = true
	if _, ok := r.history[p.key]; !ok {
		r.keys = append(r.keys, p.key)
	}
	r.history[p.key] = append(r.history[p.key], p.metric())
	if cur, ok := r.latest[p.key]; !ok || p.newerThan(cur) {
		r.latest[p.key] = p
	}
}

func (r *runState) snapshot() mlflow.Run {
	run := mlflow.Run{Info: r.info}
	for _, k := range r.keys {
		run.Data.Metrics = append(run.Data.Metrics, r.latest[k].metric())
	}
	run.Data.Params = slices.Clone(r.params)
	run.Data.Tags = slices.Clone(r.tags)
	return run
}

const (
	tagRunName = "mlflow.runName"
)

func newRunID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// Word lists for generated run names, in the style of MLflow's
// name_utils (adjective-noun-number, at most 20 characters).
var (
	namePredicates = []string{"able", "bold", "brave", "bright", "calm", "clean", "clever", "crisp", "fast", "gentle", "glad", "kind", "lucid", "merry", "neat", "quick", "sleek", "smart", "tidy", "wise"}
	nameNouns      = []string{"ant", "bat", "bear", "bee", "cat", "cod", "colt", "crab", "deer", "doe", "eel", "fish", "fox", "gnu", "hare", "hen", "lark", "mole", "owl", "ram"}
)

func randInt(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return int(v.Int64())
}

func generateRunName() string {
	return fmt.Sprintf("%s-%s-%d", namePredicates[randInt(len(namePredicates))], nameNouns[randInt(len(nameNouns))], randInt(1001))
}

// validation, with the 2.x messages of mlflow/utils/validation.py.

const badCharactersMessage = "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), and slashes (/)."

func invalidParam(format string, args ...any) *mlflow.APIError {
	return mlflow.NewError(mlflow.ErrorCodeInvalidParameterValue, format, args...)
}

// validateName applies MLflow 2.x's key rules for the entity ("metric",
// "parameter", "tag"): the regex ^[/\w.\- ]*$ (Python's Unicode \w:
// letters, numbers, underscore) and posixpath.normpath leaving the name
// unchanged, not "." and not starting with ".." or "/". The server keeps its
// own implementation rather than mlflow.ValidateKey so that the two can be
// compared (see TestKeyValidation).
func validateName(entity, name string) *mlflow.APIError {
	for _, r := range name {
		if !pythonKeyRune(r) {
			return invalidParam("Invalid %s name: '%s'. %s", entity, name, badCharactersMessage)
		}
	}
	if norm := normPath(name); norm != name || norm == "." || strings.HasPrefix(norm, "..") || strings.HasPrefix(norm, "/") {
		return invalidParam("Invalid %s name: '%s'. Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '%s'", entity, name, norm)
	}
	return nil
}

func pythonKeyRune(r rune) bool {
	switch r {
	case '_', '-', '.', '/', ' ':
		return true
	}
	return unicode.IsLetter(r) || unicode.IsNumber(r)
}

// normPath is Python's posixpath.normpath, for the error message only.
func normPath(p string) string {
	if p == "" {
		return "."
	}
	initial := 0
	if strings.HasPrefix(p, "/") {
		initial = 1
		if strings.HasPrefix(p, "//") && !strings.HasPrefix(p, "///") {
			initial = 2
		}
	}
	var out []string
	for _, c := range strings.Split(p, "/") {
		switch {
		case c == "" || c == ".":
		case c != ".." || (initial == 0 && len(out) == 0) || (len(out) > 0 && out[len(out)-1] == ".."):
			out = append(out, c)
		case len(out) > 0:
			out = out[:len(out)-1]
		}
	}
	s := strings.Repeat("/", initial) + strings.Join(out, "/")
	if s == "" {
		return "."
	}
	return s
}

func validateLength(entity string, limit int, value string) *mlflow.APIError {
	// Python's len counts code points.
	if n := utf8.RuneCountInString(value); n > limit {
		return invalidParam("%s '%s' had length %d, which exceeded length limit of %d", entity, mlflow.TruncateRunes(value, 250), n, limit)
	}
	return nil
}

func validateMetric(m mlflow.Metric) *mlflow.APIError {
	if err := validateName("metric", m.Key); err != nil {
		return err
	}
	if m.Timestamp < 0 {
		return invalidParam("Got invalid timestamp %d for metric '%s' (value=%s). Timestamp must be a nonnegative long (64-bit integer) ", m.Timestamp, m.Key, pyFloat(m.Value))
	}
	return validateLength("Metric name", mlflow.MaxKeyLength, m.Key)
}

func validateParam(p mlflow.Param) *mlflow.APIError {
	if err := validateName("parameter", p.Key); err != nil {
		return err
	}
	if err := validateLength("Param key", mlflow.MaxKeyLength, p.Key); err != nil {
		return err
	}
	return validateLength("Param value", mlflow.MaxParamValueLength, p.Value)
}

func validateTag(t mlflow.Tag) *mlflow.APIError {
	if err := validateName("tag", t.Key); err != nil {
		return err
	}
	if err := validateLength("Tag key", mlflow.MaxKeyLength, t.Key); err != nil {
		return err
	}
	return validateLength("Tag value", mlflow.MaxTagValueLength, t.Value)
}

func validateBatchLimit(entity string, limit, n int) *mlflow.APIError {
	if n > limit {
		return invalidParam("A batch logging request can contain at most %d %s. Got %d %s. Please split up %s across multiple requests and try again.", limit, entity, n, entity, entity)
	}
	return nil
}

func validateRunID(id string) *mlflow.APIError {
	if id == "" {
		return invalidParam("Invalid run ID: '%s'", id)
	}
	for i, r := range id {
		ok := r < 128 && (r == '_' || r == '-' && i > 0 || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		if !ok || i > 255 {
			return invalidParam("Invalid run ID: '%s'", id)
		}
	}
	if id[0] == '_' {
		return invalidParam("Invalid run ID: '%s'", id)
	}
	return nil
}

func pythonList(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = "'" + k + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// state is the in-memory tracking store. Its methods assume Server.mu held.
type state struct {
	experiments []*mlflow.Experiment // index = numeric id
	runs        map[string]*runState
	runOrder    []string
	artifacts   map[string][]byte
}

func newState(nowMs int64) *state {
	s := &state{runs: map[string]*runState{}, artifacts: map[string][]byte{}}
	s.experiments = append(s.experiments, &mlflow.Experiment{
		ID: "0", Name: mlflow.DefaultExperimentName, ArtifactLocation: "mlflow-artifacts:/0",
		LifecycleStage: mlflow.LifecycleActive, CreationTime: nowMs, LastUpdateTime: nowMs,
	})
	return s
}

func (s *state) experiment(id string) (*mlflow.Experiment, *mlflow.APIError) {
	if id == "" {
		id = "0" // the SQL store reads a missing id as the Default experiment
	}
	n, err := strconv.Atoi(id)
	if err != nil || n < 0 || n >= len(s.experiments) {
		return nil, mlflow.NewError(mlflow.ErrorCodeResourceDoesNotExist, "No Experiment with id=%s exists", id)
	}
	return s.experiments[n], nil
}

// activeExperiment is an experiment a run or model can be created in.
func (s *state) activeExperiment(id string) (*mlflow.Experiment, *mlflow.APIError) {
	e, err := s.experiment(id)
	if err != nil {
		return nil, err
	}
	if e.LifecycleStage != mlflow.LifecycleActive {
		return nil, invalidParam("The experiment %s must be in the 'active' state. Current state is %s.", e.ID, e.LifecycleStage)
	}
	return e, nil
}

func (s *state) experimentByName(name string) *mlflow.Experiment {
	for _, e := range s.experiments {
		if e.Name == name {
			return e
		}
	}
	return nil
}

func (s *state) createExperiment(name, artifactLocation string, tags []mlflow.Tag, nowMs int64) (string, *mlflow.APIError) {
	if name == "" {
		return "", invalidParam("Invalid experiment name: '%s'", name)
	}
	if err := validateLength("Experiment name", mlflow.MaxExperimentNameLength, name); err != nil {
		return "", err
	}
	for _, t := range tags {
		if err := validateName("tag", t.Key); err != nil {
			return "", err
		}
		if err := validateLength("Tag value", mlflow.MaxTagValueLength, t.Value); err != nil {
			return "", err
		}
	}
	if strings.HasPrefix(artifactLocation, "runs:") {
		return "", invalidParam("Artifact location cannot be a runs:/ URI. Given: '%s'", artifactLocation)
	}
	if s.experimentByName(name) != nil {
		// The SQL store lets the INSERT fail (during the autoflush of its
		// tag query) and quotes sqlalchemy's error, parameters included.
		return "", mlflow.NewError(mlflow.ErrorCodeResourceAlreadyExists,
			"Experiment(name=%s) already exists. Error: (raised as a result of Query-invoked autoflush; consider using a session.no_autoflush block if this flush is occurring prematurely)\n"+
				"(sqlite3.IntegrityError) UNIQUE constraint failed: experiments.name\n"+
				"[SQL: INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES (?, ?, ?, ?, ?)]\n"+
				"[parameters: (%s, %s, 'active', %d, %d)]\n"+
				"(Background on this error at: https://sqlalche.me/e/14/gkpj)", name, pyStr(name), pyStr(artifactLocation), nowMs, nowMs)
	}
	id := strconv.Itoa(len(s.experiments))
	if artifactLocation == "" {
		artifactLocation = "mlflow-artifacts:/" + id
	}
	s.experiments = append(s.experiments, &mlflow.Experiment{
		ID: id, Name: name, ArtifactLocation: artifactLocation, LifecycleStage: mlflow.LifecycleActive,
		CreationTime: nowMs, LastUpdateTime: nowMs, Tags: slices.Clone(tags),
	})
	return id, nil
}

// setExperimentLifecycle deletes or restores an experiment and, as the SQL
// store does, all of its runs.
func (s *state) setExperimentLifecycle(id, from, to string, nowMs int64) *mlflow.APIError {
	e, err := s.experiment(id)
	if err != nil {
		return err
	}
	if e.LifecycleStage != from {
		return mlflow.NewError(mlflow.ErrorCodeResourceDoesNotExist, "No Experiment with id=%s exists", id)
	}
	e.LifecycleStage = to
	e.LastUpdateTime = nowMs
	for _, rid := range s.runOrder {
		if r := s.runs[rid]; r.info.ExperimentID == e.ID {
			r.info.LifecycleStage = to
		}
	}
	return nil
}

func (s *state) run(id string) (*runState, *mlflow.APIError) {
	r, ok := s.runs[id]
	if !ok {
		return nil, mlflow.NewError(mlflow.ErrorCodeResourceDoesNotExist, "Run with id=%s not found", id)
	}
	return r, nil
}

func (s *state) activeRun(id string) (*runState, *mlflow.APIError) {
	r, err := s.run(id)
	if err != nil {
		return nil, err
	}
	if r.info.LifecycleStage != mlflow.LifecycleActive {
		return nil, invalidParam("The run %s must be in the 'active' state. Current state is %s.", id, r.info.LifecycleStage)
	}
	return r, nil
}

func (s *state) createRun(expID, userID, runName string, startTime int64, tags []mlflow.Tag) (*runState, *mlflow.APIError) {
	e, err := s.activeExperiment(expID)
	if err != nil {
		return nil, err
	}
	// The SQL store's create_run validates no tag: keys and values are
	// inserted as sent (MLflow 2.9.2 and 3.0.0 both accept a key such as
	// "a@b" there, which log-batch refuses).
	tagName := ""
	for _, t := range tags {
		if t.Key == tagRunName {
			tagName = t.Value
		}
	}
	if runName != "" && tagName != "" && runName != tagName {
		return nil, invalidParam("Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='%s', mlflow.runName='%s').", runName, tagName)
	}
	if runName == "" {
		runName = tagName
	}
	if runName == "" {
		runName = generateRunName()
	}
	id := newRunID()
	if err := uniqueTagKeys(tags, id, runName, tagName); err != nil {
		return nil, err
	}
	r := &runState{
		info: mlflow.RunInfo{
			RunID: id, ExperimentID: e.ID, RunName: runName, UserID: userID,
			Status: mlflow.RunStatusRunning, StartTime: startTime,
			ArtifactURI:    strings.TrimSuffix(e.ArtifactLocation, "/") + "/" + id + "/artifacts",
			LifecycleStage: mlflow.LifecycleActive,
		},
		history: map[string][]mlflow.Metric{},
		latest:  map[string]metricPoint{},
		seen:    map[metricPoint]bool{},
	}
	for _, t := range tags {
		r.setTag(t)
	}
	if tagName == "" {
		r.setTag(mlflow.Tag{Key: tagRunName, Value: runName})
	}
	s.runs[id] = r
	s.runOrder = append(s.runOrder, id)
	return r, nil
}

// uniqueTagKeys refuses what the SQL store's INSERT refuses: the run's tag
// rows are (key, run) unique, so a key repeated in runs/create — even with
// the same value — fails the whole creation with BAD_REQUEST and nothing is
// created. (log-batch upserts instead: a repeat there is fine.) The file
// store accepts both; the test server follows the SQL store, which remote
// servers and Databricks run.
func uniqueTagKeys(tags []mlflow.Tag, runID, runName, tagName string) *mlflow.APIError {
	seen := make(map[string]bool, len(tags))
	dup := false
	for _, t := range tags {
		dup = dup || seen[t.Key]
		seen[t.Key] = true
	}
	if !dup {
		return nil
	}
	// The message names the rows the server tried to insert: the tags as
	// sent, then mlflow.runName (the given or generated name) when the tags
	// do not carry it.
	var rows []string
	for _, t := range tags {
		rows = append(rows, fmt.Sprintf("(%s, %s, '%s')", pyStr(t.Key), pyStr(t.Value), runID))
	}
	if tagName == "" {
		rows = append(rows, fmt.Sprintf("(%s, %s, '%s')", pyStr(tagRunName), pyStr(runName), runID))
	}
	return mlflow.NewError(mlflow.ErrorCodeBadRequest, "%s", "(sqlite3.IntegrityError) UNIQUE constraint failed: tags.key, tags.run_uuid\n"+
		"[SQL: INSERT INTO tags (\"key\", value, run_uuid) VALUES (?, ?, ?)]\n"+
		"[parameters: ("+strings.Join(rows, ", ")+")]\n"+
		"(Background on this error at: https://sqlalche.me/e/14/gkpj)")
}

// logBatch follows SqlAlchemyStore.log_batch: validate every entity, then
// the batch limits, then unique param keys, then the run; params are checked
// against stored values before anything is written.
func (s *state) logBatch(runID string, b mlflow.Batch) *mlflow.APIError {
	if err := validateRunID(runID); err != nil {
		return err
	}
	for _, m := range b.Metrics {
		if err := validateMetric(m); err != nil {
			return err
		}
	}
	for _, p := range b.Params {
		if err := validateParam(p); err != nil {
			return err
		}
	}
	for _, t := range b.Tags {
		if err := validateTag(t); err != nil {
			return err
		}
	}
	if err := validateBatchLimit("metrics", mlflow.MaxMetricsPerBatch, len(b.Metrics)); err != nil {
		return err
	}
	if err := validateBatchLimit("params", mlflow.MaxParamsPerBatch, len(b.Params)); err != nil {
		return err
	}
	if err := validateBatchLimit("tags", mlflow.MaxTagsPerBatch, len(b.Tags)); err != nil {
		return err
	}
	if err := validateBatchLimit("metrics, params, and tags", mlflow.MaxEntitiesPerBatch, b.Len()); err != nil {
		return err
	}
	// Any repeated key is refused, even with the same value.
	seen := map[string]bool{}
	var dupes []string
	for _, p := range b.Params {
		if seen[p.Key] {
			dupes = append(dupes, p.Key)
		}
		seen[p.Key] = true
	}
	if len(dupes) > 0 {
		return invalidParam("Duplicate parameter keys have been submitted: %s. Please ensure the request contains only one param value per param key.", pythonList(dupes))
	}
	r, err := s.activeRun(runID)
	if err != nil {
		return err
	}
	var conflicts []string
	for _, p := range b.Params {
		if old, ok := r.param(p.Key); ok && old != p.Value {
			conflicts = append(conflicts, fmt.Sprintf("{'key': '%s', 'old_value': '%s', 'new_value': '%s'}", p.Key, old, p.Value))
		}
	}
	if len(conflicts) > 0 {
		return invalidParam("Changing param values is not allowed. Params were already logged='[%s]' for run ID='%s'.", strings.Join(conflicts, ", "), runID)
	}
	for _, p := range b.Params {
		if _, ok := r.param(p.Key); !ok {
			r.params = append(r.params, p)
		}
	}
	for _, m := range b.Metrics {
		r.logMetric(m)
	}
	for _, t := range b.Tags {
		r.setTag(t)
	}
	return nil
}

func (s *state) logParam(runID string, p mlflow.Param) *mlflow.APIError {
	if err := validateParam(p); err != nil {
		return err
	}
	r, err := s.activeRun(runID)
	if err != nil {
		return err
	}
	if old, ok := r.param(p.Key); ok {
		if old != p.Value {
			return invalidParam("Changing param values is not allowed. Param with key='%s' was already logged with value='%s' for run ID='%s'. Attempted logging new value '%s'.", p.Key, old, runID, p.Value)
		}
		return nil
	}
	r.params = append(r.params, p)
	return nil
}

func copyExperiment(e *mlflow.Experiment) mlflow.Experiment {
	c := *e
	c.Tags = slices.Clone(e.Tags)
	return c
}
