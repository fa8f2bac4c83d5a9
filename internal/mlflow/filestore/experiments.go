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
	id  string
	dir string
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
			out = append(out, expLoc{id: name, dir: dir})
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
	if err := checkKeyFolders("tag", tagKeySet(tags)); err != nil {
		return "", err
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
		err := s.createExperimentDir(s.newExperimentMeta(id, name), tags)
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

// newExperimentMeta is the meta.yaml of a new active experiment, created
// now, its artifacts under the store's root.
func (s *Store) newExperimentMeta(id, name string) *experimentMeta {
	now := s.nowMillis()
	return &experimentMeta{
		ArtifactLocation: experimentArtifactLocation(s.artifactRoot, id),
		CreationTime:     int64p(now),
		ExperimentID:     id,
		LastUpdateTime:   int64p(now),
		LifecycleStage:   mlflow.LifecycleActive,
		Name:             name,
	}
}

// createExperimentDir makes <root>/<id> with its tags, then meta.yaml last:
// until meta.yaml exists readers do not see the experiment, so a crash
// midway leaves no half experiment behind.
func (s *Store) createExperimentDir(meta *experimentMeta, tags []mlflow.Tag) error {
	dir := filepath.Join(s.root, meta.ExperimentID)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	for _, t := range tags {
		if err := writeTag(dir, t); err != nil {
			return err
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
	if err := s.setLifecycle(dir, id, mlflow.LifecycleActive, mlflow.LifecycleDeleted); err != nil {
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
	if err := s.setLifecycle(dst, id, mlflow.LifecycleDeleted, mlflow.LifecycleActive); err != nil {
		return fmt.Errorf("restore experiment %s: %w", id, err)
	}
	return nil
}

// setLifecycle moves the runs of the experiment in dir that are in stage
// from to stage to, then the experiment itself, as MLflow's
// delete_experiment and restore_experiment do. Runs being deleted get the
// current time as deleted_time; the others drop the field. Callers hold
// s.layout for writing, which excludes run writers.
func (s *Store) setLifecycle(dir, id, from, to string) error {
	now := s.nowMillis()
	deleted := deletedTime{}
	if to == mlflow.LifecycleDeleted {
		deleted = deletedTime{present: true, value: int64p(now)}
	}
	runs, err := listRunMetas(dir, id)
	if err != nil {
		return err
	}
	for _, r := range runs {
		if r.meta.info().LifecycleStage != from {
			continue
		}
		r.meta.LifecycleStage = to
		if err := rewriteRunMeta(r, deleted); err != nil {
			return fmt.Errorf("run %s: %w", r.meta.RunID, err)
		}
	}
	meta, err := readExperimentMeta(dir)
	if err != nil {
		return err
	}
	meta.LifecycleStage = to
	meta.LastUpdateTime = int64p(now)
	return writeMeta(dir, meta.mapping())
}
