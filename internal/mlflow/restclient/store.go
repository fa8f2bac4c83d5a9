package restclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// GetExperimentByName implements mlflow.Store.
func (c *Client) GetExperimentByName(ctx context.Context, name string) (*mlflow.Experiment, error) {
	var resp struct {
		Experiment *wireExperiment `json:"experiment"`
	}
	if err := c.get(ctx, "experiments/get-by-name", url.Values{"experiment_name": {name}}, &resp); err != nil {
		return nil, err
	}
	if resp.Experiment == nil {
		return nil, errors.New("mlflow experiments/get-by-name: response has no experiment")
	}
	return resp.Experiment.toModel(), nil
}

// GetExperiment implements mlflow.Store.
func (c *Client) GetExperiment(ctx context.Context, id string) (*mlflow.Experiment, error) {
	var resp struct {
		Experiment *wireExperiment `json:"experiment"`
	}
	if err := c.get(ctx, "experiments/get", url.Values{"experiment_id": {id}}, &resp); err != nil {
		return nil, err
	}
	if resp.Experiment == nil {
		return nil, errors.New("mlflow experiments/get: response has no experiment")
	}
	return resp.Experiment.toModel(), nil
}

// CreateExperiment implements mlflow.Store.
func (c *Client) CreateExperiment(ctx context.Context, name string, tags []mlflow.Tag) (string, error) {
	req := struct {
		Name string   `json:"name"`
		Tags []wireKV `json:"tags,omitempty"`
	}{name, tagsToWire(tags)}
	var resp struct {
		ExperimentID string `json:"experiment_id"`
	}
	if err := c.post(ctx, "experiments/create", req, &resp); err != nil {
		return "", err
	}
	if resp.ExperimentID == "" {
		return "", errors.New("mlflow experiments/create: response has no experiment_id")
	}
	return resp.ExperimentID, nil
}

// RestoreExperiment implements mlflow.Store.
func (c *Client) RestoreExperiment(ctx context.Context, id string) error {
	req := struct {
		ExperimentID string `json:"experiment_id"`
	}{id}
	return c.post(ctx, "experiments/restore", req, nil)
}

// CreateRun implements mlflow.Store.
func (c *Client) CreateRun(ctx context.Context, r mlflow.CreateRunRequest) (*mlflow.Run, error) {
	req := struct {
		ExperimentID string   `json:"experiment_id"`
		UserID       string   `json:"user_id,omitempty"`
		RunName      string   `json:"run_name,omitempty"`
		StartTime    int64    `json:"start_time,omitempty"`
		Tags         []wireKV `json:"tags,omitempty"`
	}{r.ExperimentID, r.UserID, r.RunName, r.StartTime, tagsToWire(mlflow.UniqueTags(r.Tags))}
	var resp struct {
		Run *wireRun `json:"run"`
	}
	if err := c.post(ctx, "runs/create", req, &resp); err != nil {
		return nil, err
	}
	if resp.Run == nil {
		return nil, errors.New("mlflow runs/create: response has no run")
	}
	run := resp.Run.toModel()
	return &run, nil
}

// GetRun implements mlflow.Store.
func (c *Client) GetRun(ctx context.Context, runID string) (*mlflow.Run, error) {
	var resp struct {
		Run *wireRun `json:"run"`
	}
	if err := c.get(ctx, "runs/get", url.Values{"run_id": {runID}}, &resp); err != nil {
		return nil, err
	}
	if resp.Run == nil {
		return nil, errors.New("mlflow runs/get: response has no run")
	}
	run := resp.Run.toModel()
	return &run, nil
}

// UpdateRun implements mlflow.Store. An invalid status is refused here
// because the server silently ignores unknown statuses.
func (c *Client) UpdateRun(ctx context.Context, r mlflow.UpdateRunRequest) (*mlflow.RunInfo, error) {
	if r.Status != "" && !r.Status.Valid() {
		return nil, fmt.Errorf("mlflow runs/update: invalid run status %q", r.Status)
	}
	req := struct {
		RunID   string `json:"run_id"`
		Status  string `json:"status,omitempty"`
		EndTime int64  `json:"end_time,omitempty"`
		RunName string `json:"run_name,omitempty"`
	}{r.RunID, string(r.Status), r.EndTime, r.RunName}
	var resp struct {
		RunInfo *wireRunInfo `json:"run_info"`
	}
	if err := c.post(ctx, "runs/update", req, &resp); err != nil {
		return nil, err
	}
	if resp.RunInfo == nil {
		return nil, errors.New("mlflow runs/update: response has no run_info")
	}
	info := resp.RunInfo.toModel()
	return &info, nil
}

// DeleteRun implements mlflow.Store.
func (c *Client) DeleteRun(ctx context.Context, runID string) error {
	return c.post(ctx, "runs/delete", runIDRequest{runID}, nil)
}

// RestoreRun brings a deleted run back so it accepts logging again.
func (c *Client) RestoreRun(ctx context.Context, runID string) error {
	return c.post(ctx, "runs/restore", runIDRequest{runID}, nil)
}

type runIDRequest struct {
	RunID string `json:"run_id"`
}

// SearchRuns implements mlflow.Store.
func (c *Client) SearchRuns(ctx context.Context, r mlflow.SearchRunsRequest) (*mlflow.SearchRunsResult, error) {
	req := struct {
		ExperimentIDs []string `json:"experiment_ids"`
		Filter        string   `json:"filter,omitempty"`
		RunViewType   string   `json:"run_view_type,omitempty"`
		MaxResults    int      `json:"max_results,omitempty"`
		OrderBy       []string `json:"order_by,omitempty"`
		PageToken     string   `json:"page_token,omitempty"`
	}{r.ExperimentIDs, r.Filter, string(r.ViewType), r.MaxResults, r.OrderBy, r.PageToken}
	if req.ExperimentIDs == nil {
		req.ExperimentIDs = []string{}
	}
	var resp struct {
		Runs          []wireRun `json:"runs"`
		NextPageToken string    `json:"next_page_token"`
	}
	if err := c.post(ctx, "runs/search", req, &resp); err != nil {
		return nil, err
	}
	out := &mlflow.SearchRunsResult{NextPageToken: resp.NextPageToken}
	if len(resp.Runs) > 0 {
		out.Runs = make([]mlflow.Run, len(resp.Runs))
		for i := range resp.Runs {
			out.Runs[i] = resp.Runs[i].toModel()
		}
	}
	return out, nil
}

// maxHistoryPages stops a server that keeps answering the same page token
// from looping GetMetricHistory forever.
const maxHistoryPages = 10000

// GetMetricHistory implements mlflow.Store. It follows next_page_token
// (Databricks and newer servers page the history) until the last page.
func (c *Client) GetMetricHistory(ctx context.Context, runID, key string) ([]mlflow.Metric, error) {
	var out []mlflow.Metric
	token := ""
	for page := 0; ; page++ {
		if page == maxHistoryPages {
			return nil, fmt.Errorf("mlflow metrics/get-history: more than %d pages", maxHistoryPages)
		}
		q := url.Values{"run_id": {runID}, "metric_key": {key}}
		if token != "" {
			q.Set("page_token", token)
		}
		var resp struct {
			Metrics       []wireMetric `json:"metrics"`
			NextPageToken string       `json:"next_page_token"`
		}
		if err := c.get(ctx, "metrics/get-history", q, &resp); err != nil {
			return nil, err
		}
		out = append(out, metricsFromWire(resp.Metrics)...)
		if resp.NextPageToken == "" || resp.NextPageToken == token {
			return out, nil
		}
		token = resp.NextPageToken
	}
}

// LogBatch implements mlflow.Store. The body is encoded by AppendLogBatch
// into a pooled buffer; the buffer goes back to the pool only when the
// transport closes the request body, which may happen after Do returns.
//
// A key repeated in the batch is sent once: the SQL store refuses a param
// key twice in one request, and a tag's last value wins there anyway.
func (c *Client) LogBatch(ctx context.Context, runID string, b mlflow.Batch) error {
	const rpc = "runs/log-batch"
	b.Tags = mlflow.UniqueTags(b.Tags)
	b.Params = mlflow.UniqueParams(b.Params)
	body := newBatchBody(runID, b)
	n := body.len()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+rpc, body)
	if err != nil {
		_ = body.Close()
		return fmt.Errorf("mlflow %s: %w", rpc, err)
	}
	req.ContentLength = int64(n)
	req.Header.Set("Content-Type", "application/json")
	return c.do(req, rpc, nil)
}
