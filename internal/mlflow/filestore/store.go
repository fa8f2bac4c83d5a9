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
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
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
	runLocks map[string]*sync.Mutex
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

// IsFileURI reports whether a tracking URI selects the file store: a file:
// URI or a plain path without a scheme, as MLflow decides from
// urlparse(uri).scheme.
func IsFileURI(uri string) bool {
	if uri == "" {
		return false
	}
	scheme, _, found := strings.Cut(uri, ":")
	if !found || strings.ContainsAny(scheme, "/\\") {
		return true
	}
	if !validScheme(scheme) {
		return true
	}
	return strings.EqualFold(scheme, "file")
}

// validScheme is RFC 3986's scheme syntax, what urlparse accepts as one.
func validScheme(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// rootFromURI resolves uri as MLflow's local_file_uri_to_path does: the path
// of a file: URI (percent-decoded; "file:./x" is relative), or the plain
// path, made absolute against the working directory.
func rootFromURI(uri string) (string, error) {
	if !IsFileURI(uri) {
		return "", fmt.Errorf("%q is not a file store URI", uri)
	}
	p := uri
	if len(uri) >= 5 && strings.EqualFold(uri[:5], "file:") {
		u, err := url.Parse(uri)
		if err != nil {
			return "", fmt.Errorf("parse %q: %w", uri, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			// MLflow silently drops the host; writing locally what names a
			// remote machine would put the data somewhere unexpected.
			return "", fmt.Errorf("file URI %q names host %q; only local paths are supported", uri, u.Host)
		}
		p = u.Path
		if u.Opaque != "" {
			if p, err = url.PathUnescape(u.Opaque); err != nil {
				return "", fmt.Errorf("parse %q: %w", uri, err)
			}
		}
	}
	if p == "" {
		return "", fmt.Errorf("file URI %q has no path", uri)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("resolve %q: %w", p, err)
	}
	return abs, nil
}

// fileURI is pathlib.Path(abs).as_uri(): file:// and the path with every
// byte outside [A-Za-z0-9_.~/-] percent-encoded.
func fileURI(abs string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	b.WriteString("file://")
	for i := 0; i < len(abs); i++ {
		c := abs[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_.~/-", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
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
		runLocks:     make(map[string]*sync.Mutex),
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
		now := s.nowMillis()
		meta := &experimentMeta{
			ArtifactLocation: s.artifactRoot + "/" + defaultExperimentID,
			CreationTime:     int64p(now),
			ExperimentID:     defaultExperimentID,
			LastUpdateTime:   int64p(now),
			LifecycleStage:   mlflow.LifecycleActive,
			Name:             mlflow.DefaultExperimentName,
		}
		if err := s.createExperimentDir(defaultExperimentID, meta, nil); err != nil {
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

// experimentDir finds the directory of experiment id, active (root) or
// deleted (.trash). Callers hold s.layout.
func (s *Store) experimentDir(id string) (dir string, deleted bool, err error) {
	if id != modelsDir {
		d := filepath.Join(s.root, id)
		if _, err := os.Stat(filepath.Join(d, metaFile)); err == nil {
			return d, false, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", false, err
		}
	}
	d := filepath.Join(s.root, trashDir, id)
	if _, err := os.Stat(filepath.Join(d, metaFile)); err == nil {
		return d, true, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	return "", false, notFound("Could not find experiment with ID %s", id)
}

type expLoc struct {
	id      string
	dir     string
	deleted bool
}

// experimentLocs lists experiment directories, active first, as MLflow's
// _get_active_experiments and _get_deleted_experiments do. Directories
// without meta.yaml (half-created, or not experiments) are skipped.
func (s *Store) experimentLocs() ([]expLoc, error) {
	var out []expLoc
	for _, parent := range []struct {
		dir     string
		deleted bool
	}{{s.root, false}, {filepath.Join(s.root, trashDir), true}} {
		entries, err := os.ReadDir(parent.dir)
		if err != nil {
			return nil, fmt.Errorf("list experiments: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			if !e.IsDir() || (!parent.deleted && (name == trashDir || name == modelsDir)) || !experimentIDPattern.MatchString(name) {
				continue
			}
			dir := filepath.Join(parent.dir, name)
			if _, err := os.Stat(filepath.Join(dir, metaFile)); err != nil {
				continue
			}
			out = append(out, expLoc{id: name, dir: dir, deleted: parent.deleted})
		}
	}
	return out, nil
}

func (s *Store) readExperiment(dir string) (*mlflow.Experiment, error) {
	meta, err := readExperimentMeta(dir)
	if err != nil {
		return nil, fmt.Errorf("read experiment %s: %w", filepath.Base(dir), err)
	}
	exp := meta.experiment()
	if exp.ID == "" {
		exp.ID = filepath.Base(dir)
	}
	tags, err := readKeyValues(filepath.Join(dir, tagsDir))
	if err != nil {
		return nil, fmt.Errorf("read tags of experiment %s: %w", exp.ID, err)
	}
	for _, kv := range tags {
		exp.Tags = append(exp.Tags, mlflow.Tag{Key: kv.key, Value: kv.value})
	}
	return exp, nil
}

type keyValue struct{ key, value string }

// readKeyValues reads a params/ or tags/ folder: one file per key (sub-paths
// for keys with "/"), the raw file content as value, sorted by key. A
// missing folder is empty; files whose path is not a valid key (leftovers of
// other tools) are skipped.
func readKeyValues(dir string) ([]keyValue, error) {
	var out []keyValue
	err := walkKeys(dir, func(path, key string) error {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out = append(out, keyValue{key: key, value: string(data)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, nil
}

// walkKeys calls fn for every file under dir whose path relative to dir
// is a valid key (a key with "/" is a sub-path). A missing dir is empty;
// files whose path is not a valid key (leftovers of other tools) are skipped.
func walkKeys(dir string, fn func(path, key string) error) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == dir {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if mlflow.ValidateKey(key) != nil {
			return nil
		}
		return fn(path, key)
	})
}

// GetExperiment returns the experiment, active or deleted.
func (s *Store) GetExperiment(ctx context.Context, id string) (*mlflow.Experiment, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateExperimentID(id); err != nil {
		return nil, err
	}
	s.layout.RLock()
	defer s.layout.RUnlock()
	dir, _, err := s.experimentDir(id)
	if err != nil {
		return nil, err
	}
	return s.readExperiment(dir)
}

// GetExperimentByName returns the experiment called name, which may be
// deleted; an active one wins if (in a store MLflow wrote) both exist.
func (s *Store) GetExperimentByName(ctx context.Context, name string) (*mlflow.Experiment, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.layout.RLock()
	defer s.layout.RUnlock()
	exp, err := s.findExperimentByName(name)
	if err != nil {
		return nil, err
	}
	if exp == nil {
		return nil, notFound("Could not find experiment with name %q", name)
	}
	return exp, nil
}

func (s *Store) findExperimentByName(name string) (*mlflow.Experiment, error) {
	locs, err := s.experimentLocs()
	if err != nil {
		return nil, err
	}
	for _, loc := range locs {
		meta, err := readExperimentMeta(loc.dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since listed
			}
			return nil, fmt.Errorf("read experiment %s: %w", loc.id, err)
		}
		if meta.Name == name {
			return s.readExperiment(loc.dir)
		}
	}
	return nil, nil
}

func validateExperimentName(name string) error {
	if name == "" {
		return invalidParam("Invalid experiment name: ''")
	}
	if n := utf8.RuneCountInString(name); n > mlflow.MaxExperimentNameLength {
		return invalidParam("Experiment name is %d characters, limit %d", n, mlflow.MaxExperimentNameLength)
	}
	return nil
}

// CreateExperiment creates an experiment with a new id. A name held by any
// experiment, deleted ones included, fails with RESOURCE_ALREADY_EXISTS.
func (s *Store) CreateExperiment(ctx context.Context, name string, tags []mlflow.Tag) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := validateExperimentName(name); err != nil {
		return "", err
	}
	if err := validateTags(tags); err != nil {
		return "", err
	}
	if k, prefix, ok := pathConflict(tagKeySet(tags)); ok {
		return "", invalidParam("tag keys %q and %q cannot both be stored: the first is a folder of the second", prefix, k)
	}
	s.layout.RLock()
	defer s.layout.RUnlock()
	s.expMu.Lock()
	defer s.expMu.Unlock()
	existing, err := s.findExperimentByName(name)
	if err != nil {
		return "", fmt.Errorf("create experiment %q: %w", name, err)
	}
	if existing != nil {
		if existing.LifecycleStage == mlflow.LifecycleDeleted {
			return "", mlflow.NewError(mlflow.ErrorCodeResourceAlreadyExists,
				"Experiment '%s' already exists in deleted state. You can restore the experiment, or permanently delete the experiment from the .trash folder (under tracking server's root folder) in order to use this experiment name again.", name)
		}
		return "", mlflow.NewError(mlflow.ErrorCodeResourceAlreadyExists, "Experiment '%s' already exists.", name)
	}
	for attempt := 0; attempt < 5; attempt++ {
		id := s.ids.NewExperimentID()
		if err := validateExperimentID(id); err != nil || id == modelsDir {
			return "", fmt.Errorf("create experiment %q: id generator returned invalid id %q", name, id)
		}
		if _, _, err := s.experimentDir(id); !mlflow.IsNotFound(err) {
			continue // taken (or unreadable): draw another id
		}
		now := s.nowMillis()
		meta := &experimentMeta{
			ArtifactLocation: s.artifactRoot + "/" + id,
			CreationTime:     int64p(now),
			ExperimentID:     id,
			LastUpdateTime:   int64p(now),
			LifecycleStage:   mlflow.LifecycleActive,
			Name:             name,
		}
		err := s.createExperimentDir(id, meta, tags)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("create experiment %q: %w", name, err)
		}
		return id, nil
	}
	return "", fmt.Errorf("create experiment %q: no free experiment id after 5 attempts", name)
}

// createExperimentDir makes <root>/<id> with its tags, then meta.yaml last:
// until meta.yaml exists readers do not see the experiment, so a crash
// midway leaves no half experiment behind.
func (s *Store) createExperimentDir(id string, meta *experimentMeta, tags []mlflow.Tag) error {
	dir := filepath.Join(s.root, id)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	for _, t := range tags {
		if err := writeFileAtomic(dir, filepath.Join(dir, tagsDir, filepath.FromSlash(t.Key)), []byte(t.Value), false); err != nil {
			if isPathConflict(err) {
				return invalidParam("Tag key %q cannot be stored: its path collides with another tag key's or is too long", t.Key)
			}
			return fmt.Errorf("write experiment tag %q: %w", t.Key, err)
		}
	}
	return writeMeta(dir, meta.mapping())
}

// DeleteExperiment marks the experiment and its active runs deleted and moves
// it to .trash, as MLflow's delete_experiment does. The Default experiment
// cannot be deleted.
func (s *Store) DeleteExperiment(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateExperimentID(id); err != nil {
		return err
	}
	if id == defaultExperimentID {
		return invalidParam("Cannot delete the default experiment '0'. This is an internally reserved experiment.")
	}
	s.layout.Lock()
	defer s.layout.Unlock()
	dir, deleted, err := s.experimentDir(id)
	if err != nil {
		return err
	}
	if deleted {
		return notFound("Could not find experiment with ID %s", id)
	}
	now := s.nowMillis()
	if err := s.setRunsLifecycle(dir, id, mlflow.LifecycleActive, mlflow.LifecycleDeleted, deletedTime{present: true, value: int64p(now)}); err != nil {
		return fmt.Errorf("delete experiment %s: %w", id, err)
	}
	if err := s.setExperimentLifecycle(dir, mlflow.LifecycleDeleted, now); err != nil {
		return fmt.Errorf("delete experiment %s: %w", id, err)
	}
	s.forgetRunsUnder(dir)
	if err := os.Rename(dir, filepath.Join(s.root, trashDir, id)); err != nil {
		return fmt.Errorf("delete experiment %s: move to %s: %w", id, trashDir, err)
	}
	return nil
}

// RestoreExperiment moves a deleted experiment back from .trash and restores
// its deleted runs, as MLflow's restore_experiment does.
func (s *Store) RestoreExperiment(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateExperimentID(id); err != nil {
		return err
	}
	s.layout.Lock()
	defer s.layout.Unlock()
	src := filepath.Join(s.root, trashDir, id)
	if _, err := os.Stat(filepath.Join(src, metaFile)); errors.Is(err, fs.ErrNotExist) {
		return notFound("Could not find deleted experiment with ID %s", id)
	} else if err != nil {
		return fmt.Errorf("restore experiment %s: %w", id, err)
	}
	dst := filepath.Join(s.root, id)
	if _, err := os.Stat(dst); err == nil {
		return mlflow.NewError(mlflow.ErrorCodeResourceAlreadyExists,
			"Cannot restore experiment with ID %s. An experiment with same ID already exists.", id)
	}
	s.forgetRunsUnder(src)
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("restore experiment %s: %w", id, err)
	}
	now := s.nowMillis()
	if err := s.setRunsLifecycle(dst, id, mlflow.LifecycleDeleted, mlflow.LifecycleActive, deletedTime{}); err != nil {
		return fmt.Errorf("restore experiment %s: %w", id, err)
	}
	if err := s.setExperimentLifecycle(dst, mlflow.LifecycleActive, now); err != nil {
		return fmt.Errorf("restore experiment %s: %w", id, err)
	}
	return nil
}

func (s *Store) setExperimentLifecycle(dir, stage string, now int64) error {
	meta, err := readExperimentMeta(dir)
	if err != nil {
		return err
	}
	meta.LifecycleStage = stage
	meta.LastUpdateTime = int64p(now)
	return writeMeta(dir, meta.mapping())
}

// setRunsLifecycle rewrites every run of the experiment in stage from to
// stage to. Callers hold s.layout for writing, which excludes run writers.
func (s *Store) setRunsLifecycle(expDir, expID, from, to string, deleted deletedTime) error {
	runs, err := listRunMetas(expDir, expID)
	if err != nil {
		return err
	}
	for _, r := range runs {
		if r.meta.info().LifecycleStage != from {
			continue
		}
		r.meta.LifecycleStage = to
		r.meta.Deleted = deleted
		if err := writeMeta(r.dir, r.meta.mapping()); err != nil {
			return fmt.Errorf("run %s: %w", r.meta.RunID, err)
		}
	}
	return nil
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
