// Package filestore is an mlflow.Store that writes MLflow's local file store
// layout (what `mlflow ui --backend-store-uri ./mlruns` reads) directly, so
// the collector can record runs without a tracking server.
//
// Layout, as MLflow's FileStore writes it:
//
//	<root>/<exp id>/meta.yaml            experiment; <root>/0 is "Default"
//	<root>/<exp id>/tags/<key>           experiment tag, raw value
//	<root>/<exp id>/<run id>/meta.yaml   run info (status and source as ints)
//	<root>/<exp id>/<run id>/metrics/<key>  "<ts ms> <value> <step>\n" per point
//	<root>/<exp id>/<run id>/params/<key>   raw value, write-once
//	<root>/<exp id>/<run id>/tags/<key>     raw value
//	<root>/<exp id>/<run id>/artifacts/
//	<root>/.trash/<exp id>/              deleted experiments
//	<root>/models/                       model registry (left empty)
//
// A key containing "/" is a sub-path. One process should own a store: name
// uniqueness and param write-once are enforced across goroutines and, for
// params, across processes, but experiment creation is not coordinated with
// other writers.
package filestore

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

const (
	trashDir  = ".trash"
	modelsDir = "models"
	tagsDir   = "tags"

	defaultExperimentID = "0"
	// DefaultMaxOpenFiles bounds the cached metric append descriptors.
	DefaultMaxOpenFiles = 256
)

// Folders inside an experiment directory that are not runs
// (FileStore.RESERVED_EXPERIMENT_FOLDERS).
var reservedExperimentFolders = map[string]bool{"tags": true, "datasets": true, "traces": true}

// Store is the file store. It is safe for concurrent use; operations on
// different runs proceed in parallel.
type Store struct {
	root         string // absolute
	artifactRoot string // file:// URI of root
	clock        func() time.Time
	ids          IDGenerator

	// layout is held for writing while an experiment directory moves between
	// the root and .trash, and for reading by every other operation, so that
	// paths resolved under it stay valid.
	layout sync.RWMutex
	// expMu serialises experiment creation, making the name check and the
	// create one step.
	expMu sync.Mutex

	mu       sync.Mutex // guards runLocks and runDirs; never held while waiting on another lock
	runLocks map[string]*runLock
	runDirs  map[string]string // run id -> experiment directory, a lookup cache

	fds    *fdCache
	closed atomic.Bool
}

// Option configures Open.
type Option func(*Store)

// WithClock sets the time source for creation, update and deletion times
// (and run start times left zero).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.clock = now } }

// WithIDGenerator sets the source of run ids, experiment ids and run names.
func WithIDGenerator(g IDGenerator) Option { return func(s *Store) { s.ids = g } }

// WithMaxOpenFiles bounds the metric files kept open for appending.
func WithMaxOpenFiles(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.fds = newFDCache(n)
		}
	}
}

// Open opens the file store at uri (file:./mlruns, file:///abs/path or a
// plain path), creating the root, the Default experiment "0", .trash and
// models when absent, as MLflow's FileStore and registry store do.
func Open(uri string, opts ...Option) (*Store, error) {
	root, err := rootFromURI(uri)
	if err != nil {
		return nil, err
	}
	s := &Store{
		root:         root,
		artifactRoot: fileURI(root),
		clock:        time.Now,
		ids:          RandomIDs{},
		runLocks:     make(map[string]*runLock),
		runDirs:      make(map[string]string),
		fds:          newFDCache(DefaultMaxOpenFiles),
	}
	for _, o := range opts {
		o(s)
	}
	for _, d := range []string{root, filepath.Join(root, trashDir), filepath.Join(root, modelsDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("open file store: %w", err)
		}
	}
	if _, _, err := s.experimentDir(defaultExperimentID); mlflow.IsNotFound(err) {
		if err := s.createExperimentDir(s.newExperimentMeta(defaultExperimentID, mlflow.DefaultExperimentName), nil); err != nil {
			return nil, fmt.Errorf("create default experiment: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("open file store: %w", err)
	}
	return s, nil
}

// Root is the absolute store directory.
func (s *Store) Root() string { return s.root }

// Close closes the cached metric descriptors. The store must not be used
// afterwards.
func (s *Store) Close() error {
	s.closed.Store(true)
	return s.fds.closeAll()
}

func (s *Store) nowMillis() int64 { return s.clock().UnixMilli() }

func invalidParam(format string, args ...any) error {
	return mlflow.NewError(mlflow.ErrorCodeInvalidParameterValue, format, args...)
}

func notFound(format string, args ...any) error {
	return mlflow.NewError(mlflow.ErrorCodeResourceDoesNotExist, format, args...)
}

func validateExperimentID(id string) error {
	if !experimentIDPattern.MatchString(id) {
		return invalidParam("Invalid experiment ID: %q", mlflow.Quote64(id))
	}
	return nil
}

func validateRunID(id string) error {
	if !runIDPattern.MatchString(id) {
		return invalidParam("Invalid run ID: %q", mlflow.Quote64(id))
	}
	return nil
}

func validateTags(tags []mlflow.Tag) error {
	for _, t := range tags {
		if err := mlflow.ValidateKey(t.Key); err != nil {
			return invalidParam("Invalid tag name: %v", err)
		}
		if n := utf8.RuneCountInString(t.Value); n > mlflow.MaxTagValueLength {
			return invalidParam("Tag value for key %q is %d characters, limit %d", t.Key, n, mlflow.MaxTagValueLength)
		}
	}
	return nil
}

// Locking. Experiment and run operations hold s.layout: for writing while
// an experiment directory moves between the root and .trash, for reading
// otherwise, so a path resolved under it stays valid. A run's writers also
// hold that run's lock, one writer per run at a time. Readers take no run
// lock; writers replace files whole (temp file and rename) or append a
// key's lines in one write.

// runAccess says which locks withRun holds.
type runAccess int

const (
	// runReader holds s.layout for reading only.
	runReader runAccess = iota
	// runWriter also holds the run's lock.
	runWriter
)

// withRun finds runID, active or deleted, and calls fn with it while
// holding the locks access asks for. Lookup errors are returned as they
// are; whether the run must be active is for fn to check.
func (s *Store) withRun(runID string, access runAccess, fn func(loc runLoc) error) error {
	s.layout.RLock()
	defer s.layout.RUnlock()
	if access == runWriter {
		unlock := s.lockRun(runID)
		defer unlock()
	}
	loc, err := s.findRun(runID)
	if err != nil {
		return err
	}
	return fn(loc)
}

// runLock is a run's lock, kept only while someone holds or waits for it:
// a collector that writes to thousands of runs over months must not keep
// a lock for each.
type runLock struct {
	sync.Mutex
	users int // guarded by Store.mu
}

// maxCachedRunDirs bounds the run location cache; a miss only costs a
// directory lookup.
const maxCachedRunDirs = 10_000

// lockRun takes runID's lock and returns its release. Callers hold s.layout.
func (s *Store) lockRun(runID string) (unlock func()) {
	s.mu.Lock()
	l, ok := s.runLocks[runID]
	if !ok {
		l = new(runLock)
		s.runLocks[runID] = l
	}
	l.users++
	s.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		s.mu.Lock()
		if l.users--; l.users == 0 {
			delete(s.runLocks, runID)
		}
		s.mu.Unlock()
	}
}

// cachedRunDir is the experiment directory runID was last found in.
func (s *Store) cachedRunDir(runID string) (expDir string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	expDir, ok = s.runDirs[runID]
	return expDir, ok
}

// rememberRun caches the experiment directory of runID for findRun.
func (s *Store) rememberRun(runID, expDir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runDirs[runID]; !ok && len(s.runDirs) >= maxCachedRunDirs {
		clear(s.runDirs)
	}
	s.runDirs[runID] = expDir
}

// forgetRunsUnder drops cached locations and descriptors of runs below dir,
// which is about to move.
func (s *Store) forgetRunsUnder(dir string) {
	s.fds.closeUnder(dir)
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, d := range s.runDirs {
		if d == dir {
			delete(s.runDirs, id)
		}
	}
}
