package filestore

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/searchfilter"
)

const (
	searchDefaultMaxResults = 1000
	// SEARCH_MAX_RESULTS_THRESHOLD in MLflow.
	searchMaxResultsThreshold = 50000
)

// SearchRuns lists the runs of the given experiments matching the filter in
// the requested order (default start_time DESC, run_id ASC), one page at a
// time. Metric histories are read only where needed: for runs on the page,
// or for all runs when the filter or the order uses metrics.
func (s *Store) SearchRuns(ctx context.Context, req mlflow.SearchRunsRequest) (*mlflow.SearchRunsResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	maxResults := req.MaxResults
	switch {
	case maxResults == 0:
		maxResults = searchDefaultMaxResults
	case maxResults < 0 || maxResults > searchMaxResultsThreshold:
		return nil, invalidParam("Invalid value for request parameter max_results. It must be at most %d, but got value %d", searchMaxResultsThreshold, maxResults)
	}
	view := req.ViewType
	switch view {
	case "":
		view = mlflow.ViewActiveOnly
	case mlflow.ViewActiveOnly, mlflow.ViewDeletedOnly, mlflow.ViewAll:
	default:
		return nil, invalidParam("Invalid run_view_type %q", view)
	}
	filter, err := searchfilter.Parse(req.Filter)
	if err != nil {
		return nil, err
	}
	orderKeys, err := searchfilter.ParseOrderBy(req.OrderBy)
	if err != nil {
		return nil, err
	}
	offset, err := searchfilter.ParsePageToken(req.PageToken)
	if err != nil {
		return nil, err
	}
	needMetrics := false
	for _, c := range filter.Clauses {
		needMetrics = needMetrics || c.Type == searchfilter.TypeMetric
	}
	for _, k := range orderKeys {
		needMetrics = needMetrics || k.Type == searchfilter.TypeMetric
	}
	for _, id := range req.ExperimentIDs {
		if err := validateExperimentID(id); err != nil {
			return nil, err
		}
	}

	s.layout.RLock()
	defer s.layout.RUnlock()
	var runs []mlflow.Run
	// Where each matching run lives, for the metric pass over the page.
	dirs := make(map[string]string)
	for _, expID := range req.ExperimentIDs {
		expDir, _, err := s.experimentDir(expID)
		if mlflow.IsNotFound(err) {
			continue // MLflow's file store yields no runs for an unknown id
		}
		if err != nil {
			return nil, fmt.Errorf("search runs: %w", err)
		}
		metas, err := listRunMetas(expDir, expID)
		if err != nil {
			return nil, fmt.Errorf("search runs: %w", err)
		}
		for _, loc := range metas {
			if !matchesView(view, loc.meta.info().LifecycleStage) {
				continue
			}
			run, err := s.readRun(loc, needMetrics)
			if err != nil {
				return nil, fmt.Errorf("search runs: %w", err)
			}
			if !filter.Match(run) {
				continue
			}
			runs = append(runs, *run)
			dirs[run.Info.RunID] = loc.dir
		}
	}
	if err := searchfilter.SortRuns(runs, req.OrderBy); err != nil {
		return nil, err
	}
	res := &mlflow.SearchRunsResult{}
	if offset >= len(runs) {
		return res, nil
	}
	end := min(offset+maxResults, len(runs))
	res.Runs = runs[offset:end]
	if end < len(runs) {
		res.NextPageToken = searchfilter.CreatePageToken(end)
	}
	if !needMetrics {
		for i := range res.Runs {
			if res.Runs[i].Data.Metrics, err = readLatestMetrics(filepath.Join(dirs[res.Runs[i].Info.RunID], metricsDir)); err != nil {
				return nil, fmt.Errorf("search runs: read metrics of run %s: %w", res.Runs[i].Info.RunID, err)
			}
		}
	}
	return res, nil
}

func matchesView(view mlflow.ViewType, stage string) bool {
	switch view {
	case mlflow.ViewActiveOnly:
		return stage == mlflow.LifecycleActive
	case mlflow.ViewDeletedOnly:
		return stage == mlflow.LifecycleDeleted
	}
	return true
}
