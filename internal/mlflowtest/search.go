package mlflowtest

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/searchfilter"
)

// The search RPCs (experiments/search, runs/search) and the store's
// searches behind them. logged-models/search is in logged_models.go.

// searchExperiments is experiments/search.
func (s *Server) searchExperiments(a args) (any, *mlflow.APIError) {
	req, err := decode[reqSearchExperiments](a.obj)
	if err != nil {
		return nil, err
	}
	if len(req.OrderBy) > 0 {
		// Refused rather than ignored, so a caller relying on an order
		// learns the test server lacks it.
		return nil, invalidParam("experiments/search order_by is not supported by the mlflowtest server (default order: creation_time DESC, experiment_id ASC)")
	}
	exps, token, err := s.st.searchExperiments(req.Filter.Value, viewType(req.ViewType), req.pageParams)
	if err != nil {
		return nil, err
	}
	out := struct {
		Experiments   []outExperiment `json:"experiments,omitempty"`
		NextPageToken string          `json:"next_page_token,omitempty"`
	}{NextPageToken: token}
	for i := range exps {
		out.Experiments = append(out.Experiments, toOutExperiment(&exps[i]))
	}
	return out, nil
}

// searchRuns is runs/search.
func (s *Server) searchRuns(a args) (any, *mlflow.APIError) {
	req, err := decode[reqSearchRuns](a.obj)
	if err != nil {
		return nil, err
	}
	if max := req.maxResults(); max > maxSearchResults {
		// The handler's schema check comes before the store's.
		return nil, invalidParam("Invalid value %d for parameter 'max_results' supplied. Hint: Value was of type 'int'. See the API docs for more information about request parameters.", max)
	}
	orderBy, original := bareOrderBy(req.OrderBy)
	runs, token, err := s.st.searchRuns(req.ExperimentIDs, req.Filter.Value, viewType(req.RunViewType), req.pageParams, orderBy)
	if err != nil {
		for i, ob := range orderBy {
			if ob != original[i] {
				err.Message = strings.ReplaceAll(err.Message, "'"+ob+"'", "'"+original[i]+"'")
			}
		}
		return nil, err
	}
	out := struct {
		Runs          []outRun `json:"runs,omitempty"`
		NextPageToken string   `json:"next_page_token,omitempty"`
	}{NextPageToken: token}
	for i := range runs {
		out.Runs = append(out.Runs, toOutRun(&runs[i]))
	}
	return out, nil
}

// bareOrderBy reads an order_by element without an entity type
// ("start_time ASC") as an attribute, as MLflow's search utils do. It
// returns the rewritten list and the original one.
func bareOrderBy(orderBy []string) ([]string, []string) {
	out := slices.Clone(orderBy)
	for i, ob := range out {
		t := strings.TrimSpace(ob)
		first, _, _ := strings.Cut(t, " ")
		if first != "" && !strings.ContainsAny(first, ".`\"'") {
			out[i] = "attributes." + t
		}
	}
	return out, orderBy
}

// viewType reads a view type; json_format ignores an unknown enum name
// (ignore_unknown_fields), so the field keeps its default, ACTIVE_ONLY.
func viewType(v optString) mlflow.ViewType {
	switch mlflow.ViewType(v.Value) {
	case mlflow.ViewDeletedOnly:
		return mlflow.ViewDeletedOnly
	case mlflow.ViewAll:
		return mlflow.ViewAll
	}
	return mlflow.ViewActiveOnly
}

func viewIncludes(view mlflow.ViewType, stage string) bool {
	switch view {
	case mlflow.ViewAll:
		return true
	case mlflow.ViewDeletedOnly:
		return stage == mlflow.LifecycleDeleted
	default:
		return stage == mlflow.LifecycleActive
	}
}

// maxSearchResults is the SQL store's SEARCH_MAX_RESULTS_THRESHOLD.
const maxSearchResults = 50000

// defaultMaxResults is the proto default of max_results in both searches.
const defaultMaxResults = 1000

// pageParams are the max_results and page_token of a search, which the
// SQL store turns into LIMIT and OFFSET.
type pageParams struct {
	MaxResults optInt64  `json:"max_results"`
	PageToken  optString `json:"page_token"`
}

// maxResults is max_results, or its proto default when absent.
func (p pageParams) maxResults() int64 {
	if p.MaxResults.Set {
		return p.MaxResults.Value
	}
	return defaultMaxResults
}

// limit is max_results as the store checks it (validateMaxResults).
func (p pageParams) limit() (int64, *mlflow.APIError) {
	n := p.maxResults()
	return n, validateMaxResults(n)
}

// offset is where the page token says the page starts.
func (p pageParams) offset() (int, *mlflow.APIError) {
	n, err := searchfilter.ParsePageToken(p.PageToken.Value)
	if err != nil {
		return 0, asAPIError(err)
	}
	return n, nil
}

// validateMaxResults is SqlAlchemyStore._validate_max_results_param. MLflow
// 2.9 let max_results 0 through (an empty page with a token to the same
// offset, which loops a naive pager forever); later 2.x refuse it, and so
// does this server.
func validateMaxResults(n int64) *mlflow.APIError {
	if n < 1 {
		return invalidParam("Invalid value for request parameter max_results. It must be a positive integer, but got %d", n)
	}
	if n > maxSearchResults {
		return invalidParam("Invalid value for request parameter max_results. It must be at most %d, but got %d", maxSearchResults, n)
	}
	return nil
}

func (s *state) searchRuns(expIDs []string, filter string, view mlflow.ViewType, p pageParams, orderBy []string) ([]mlflow.Run, string, *mlflow.APIError) {
	limit, aerr := p.limit()
	if aerr != nil {
		return nil, "", aerr
	}
	f, err := searchfilter.Parse(filter)
	if err != nil {
		return nil, "", asAPIError(err)
	}
	offset, aerr := p.offset()
	if aerr != nil {
		return nil, "", aerr
	}
	if _, err := searchfilter.ParseOrderBy(orderBy); err != nil {
		return nil, "", asAPIError(err)
	}
	want := map[string]bool{}
	for _, id := range expIDs {
		want[id] = true
	}
	var runs []mlflow.Run
	for _, id := range s.runOrder {
		r := s.runs[id]
		if !want[r.info.ExperimentID] || !viewIncludes(view, r.info.LifecycleStage) {
			continue
		}
		snap := r.snapshot()
		if f.Match(&snap) {
			runs = append(runs, snap)
		}
	}
	if err := searchfilter.SortRuns(runs, orderBy); err != nil {
		return nil, "", asAPIError(err)
	}
	page, token := paginate(runs, offset, limit)
	return page, token, nil
}

// paginate is SQL OFFSET/LIMIT as the store uses it for runs: a full page
// always carries a next token, even when nothing follows (the next page is
// then empty).
func paginate[T any](items []T, offset int, limit int64) ([]T, string) {
	if offset > len(items) {
		offset = len(items)
	}
	rest := items[offset:]
	if int64(len(rest)) < limit {
		return rest, ""
	}
	page := rest[:limit]
	return page, searchfilter.CreatePageToken(offset + int(limit))
}

func (s *state) searchExperiments(filter string, view mlflow.ViewType, p pageParams) ([]mlflow.Experiment, string, *mlflow.APIError) {
	limit, aerr := p.limit()
	if aerr != nil {
		return nil, "", aerr
	}
	f, err := searchfilter.ParseExperimentFilter(filter)
	if err != nil {
		return nil, "", asAPIError(err)
	}
	offset, aerr := p.offset()
	if aerr != nil {
		return nil, "", aerr
	}
	var out []mlflow.Experiment
	for _, e := range s.experiments {
		if viewIncludes(view, e.LifecycleStage) && f.Match(e) {
			out = append(out, copyExperiment(e))
		}
	}
	// The SQL store's default order: creation_time DESC, experiment_id ASC.
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].CreationTime != out[j].CreationTime {
			return out[i].CreationTime > out[j].CreationTime
		}
		a, _ := strconv.Atoi(out[i].ID)
		b, _ := strconv.Atoi(out[j].ID)
		return a < b
	})
	// Unlike runs, experiments are queried with LIMIT max_results+1, so a
	// token is only given when another page exists.
	page, token := paginate(out, offset, limit)
	if offset+len(page) >= len(out) {
		token = ""
	}
	return page, token, nil
}

func asAPIError(err error) *mlflow.APIError {
	if e, ok := err.(*mlflow.APIError); ok {
		return e
	}
	return mlflow.NewError(mlflow.ErrorCodeInvalidParameterValue, "%s", err.Error())
}
