package mlflow

import (
	"context"
	"fmt"
)

// GetOrCreateExperiment returns the id of the experiment called name,
// creating it when absent. It is safe against concurrent creators (another
// collector creating the same name between our get and create) and against a
// deleted experiment holding the name, which it restores: MLflow keeps the
// name of a deleted experiment reserved, so creating would fail forever.
func GetOrCreateExperiment(ctx context.Context, s Store, name string, tags []Tag) (string, error) {
	for attempt := 0; attempt < 3; attempt++ {
		exp, err := s.GetExperimentByName(ctx, name)
		switch {
		case err == nil:
			if exp.LifecycleStage == LifecycleDeleted {
				if err := s.RestoreExperiment(ctx, exp.ID); err != nil {
					return "", fmt.Errorf("restore deleted experiment %q (%s): %w", name, exp.ID, err)
				}
			}
			return exp.ID, nil
		case !IsNotFound(err):
			return "", fmt.Errorf("get experiment %q: %w", name, err)
		}
		id, err := s.CreateExperiment(ctx, name, tags)
		if err == nil {
			return id, nil
		}
		if !IsAlreadyExists(err) {
			return "", fmt.Errorf("create experiment %q: %w", name, err)
		}
		// Lost a race with another creator: read the winner's id.
	}
	return "", fmt.Errorf("get or create experiment %q: name exists but cannot be read", name)
}
