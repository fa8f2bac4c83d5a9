package restclient

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// recorded is one request as the server saw it.
type recorded struct {
	method, path, query, contentType, body string
}

// newRecordingServer answers every request with status and body and records
// what it received.
func newRecordingServer(t *testing.T, status int, body string) (*Client, *recorded) {
	t.Helper()
	rec := &recorded{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*rec = recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), string(b)}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{TrackingURI: srv.URL + "/prefix/"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, rec
}

func TestRPCs(t *testing.T) {
	const runJSON = `{"info":{"run_id":"r1","run_uuid":"r1","experiment_id":"7","run_name":"n","user_id":"u",` +
		`"status":"RUNNING","start_time":"1700000000000","end_time":1700000000999,"artifact_uri":"mlflow-artifacts:/7/r1/artifacts",` +
		`"lifecycle_stage":"active"},"data":{"metrics":[{"key":"loss","value":"NaN","timestamp":"5","step":"9007199254740993"}],` +
		`"params":[{"key":"lr","value":"0.1"}],"tags":[{"key":"mlflow.runName","value":"n"}]}}`
	wantRun := &mlflow.Run{
		Info: mlflow.RunInfo{
			RunID: "r1", ExperimentID: "7", RunName: "n", UserID: "u", Status: mlflow.RunStatusRunning,
			StartTime: 1700000000000, EndTime: 1700000000999, ArtifactURI: "mlflow-artifacts:/7/r1/artifacts",
			LifecycleStage: "active",
		},
		Data: mlflow.RunData{
			Metrics: []mlflow.Metric{{Key: "loss", Value: math.NaN(), Timestamp: 5, Step: 9007199254740993}},
			Params:  []mlflow.Param{{Key: "lr", Value: "0.1"}},
			Tags:    []mlflow.Tag{{Key: "mlflow.runName", Value: "n"}},
		},
	}
	const expJSON = `{"experiment":{"experiment_id":"3","name":"exp","artifact_location":"s3://b/3",` +
		`"lifecycle_stage":"deleted","creation_time":"1700000000000","last_update_time":1700000000001,` +
		`"tags":[{"key":"team","value":"ml"}]}}`
	wantExp := &mlflow.Experiment{
		ID: "3", Name: "exp", ArtifactLocation: "s3://b/3", LifecycleStage: "deleted",
		CreationTime: 1700000000000, LastUpdateTime: 1700000000001, Tags: []mlflow.Tag{{Key: "team", Value: "ml"}},
	}

	tests := []struct {
		name      string
		call      func(context.Context, *Client) (any, error)
		resp      string
		want      recorded
		wantValue any
	}{
		{
			name: "get experiment by name",
			call: func(ctx context.Context, c *Client) (any, error) { return c.GetExperimentByName(ctx, "a b&c/é") },
			resp: expJSON,
			want: recorded{method: "GET", path: "/prefix/api/2.0/mlflow/experiments/get-by-name",
				query: "experiment_name=a+b%26c%2F%C3%A9"},
			wantValue: wantExp,
		},
		{
			name:      "get experiment",
			call:      func(ctx context.Context, c *Client) (any, error) { return c.GetExperiment(ctx, "3") },
			resp:      expJSON,
			want:      recorded{method: "GET", path: "/prefix/api/2.0/mlflow/experiments/get", query: "experiment_id=3"},
			wantValue: wantExp,
		},
		{
			name: "create experiment",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateExperiment(ctx, "exp", []mlflow.Tag{{Key: "team", Value: "ml"}})
			},
			resp: `{"experiment_id":"42"}`,
			want: recorded{method: "POST", path: "/prefix/api/2.0/mlflow/experiments/create", contentType: "application/json",
				body: `{"name":"exp","tags":[{"key":"team","value":"ml"}]}`},
			wantValue: "42",
		},
		{
			name: "create experiment without tags",
			call: func(ctx context.Context, c *Client) (any, error) { return c.CreateExperiment(ctx, "exp", nil) },
			resp: `{"experiment_id":"42"}`,
			want: recorded{method: "POST", path: "/prefix/api/2.0/mlflow/experiments/create", contentType: "application/json",
				body: `{"name":"exp"}`},
			wantValue: "42",
		},
		{
			name: "restore experiment",
			call: func(ctx context.Context, c *Client) (any, error) { return nil, c.RestoreExperiment(ctx, "3") },
			resp: `{}`,
			want: recorded{method: "POST", path: "/prefix/api/2.0/mlflow/experiments/restore", contentType: "application/json",
				body: `{"experiment_id":"3"}`},
		},
		{
			name: "create run",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateRun(ctx, mlflow.CreateRunRequest{ExperimentID: "7", RunName: "n", StartTime: 1700000000000,
					UserID: "u", Tags: []mlflow.Tag{{Key: "mlflow.source.type", Value: "LOCAL"}}})
			},
			resp: `{"run":` + runJSON + `}`,
			want: recorded{method: "POST", path: "/prefix/api/2.0/mlflow/runs/create", contentType: "application/json",
				body: `{"experiment_id":"7","user_id":"u","run_name":"n","start_time":1700000000000,"tags":[{"key":"mlflow.source.type","value":"LOCAL"}]}`},
			wantValue: wantRun,
		},
		{
			name:      "get run",
			call:      func(ctx context.Context, c *Client) (any, error) { return c.GetRun(ctx, "r1") },
			resp:      `{"run":` + runJSON + `}`,
			want:      recorded{method: "GET", path: "/prefix/api/2.0/mlflow/runs/get", query: "run_id=r1"},
			wantValue: wantRun,
		},
		{
			name: "update run",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.UpdateRun(ctx, mlflow.UpdateRunRequest{RunID: "r1", Status: mlflow.RunStatusFinished, EndTime: 1700000001000})
			},
			resp: `{"run_info":{"run_uuid":"r1","status":"FINISHED","end_time":"1700000001000"}}`,
			want: recorded{method: "POST", path: "/prefix/api/2.0/mlflow/runs/update", contentType: "application/json",
				body: `{"run_id":"r1","status":"FINISHED","end_time":1700000001000}`},
			wantValue: &mlflow.RunInfo{RunID: "r1", Status: mlflow.RunStatusFinished, EndTime: 1700000001000},
		},
		{
			name: "rename run",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.UpdateRun(ctx, mlflow.UpdateRunRequest{RunID: "r1", RunName: "new"})
			},
			resp: `{"run_info":{"run_id":"r1","run_name":"new"}}`,
			want: recorded{method: "POST", path: "/prefix/api/2.0/mlflow/runs/update", contentType: "application/json",
				body: `{"run_id":"r1","run_name":"new"}`},
			wantValue: &mlflow.RunInfo{RunID: "r1", RunName: "new"},
		},
		{
			name: "delete run",
			call: func(ctx context.Context, c *Client) (any, error) { return nil, c.DeleteRun(ctx, "r1") },
			resp: `{}`,
			want: recorded{method: "POST", path: "/prefix/api/2.0/mlflow/runs/delete", contentType: "application/json",
				body: `{"run_id":"r1"}`},
		},
		{
			name: "restore run",
			call: func(ctx context.Context, c *Client) (any, error) { return nil, c.RestoreRun(ctx, "r1") },
			resp: `{}`,
			want: recorded{method: "POST", path: "/prefix/api/2.0/mlflow/runs/restore", contentType: "application/json",
				body: `{"run_id":"r1"}`},
		},
		{
			name: "search runs",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.SearchRuns(ctx, mlflow.SearchRunsRequest{ExperimentIDs: []string{"7", "8"},
					Filter: "tags.`k` = 'v' and attributes.status = 'RUNNING'", ViewType: mlflow.ViewAll, MaxResults: 10,
					OrderBy: []string{"attributes.start_time DESC"}, PageToken: "tok1"})
			},
			resp: `{"runs":[` + runJSON + `],"next_page_token":"tok2"}`,
			want: recorded{method: "POST", path: "/prefix/api/2.0/mlflow/runs/search", contentType: "application/json",
				body: `{"experiment_ids":["7","8"],"filter":"tags.` + "`k`" + ` = 'v' and attributes.status = 'RUNNING'",` +
					`"run_view_type":"ALL","max_results":10,"order_by":["attributes.start_time DESC"],"page_token":"tok1"}`},
			wantValue: &mlflow.SearchRunsResult{Runs: []mlflow.Run{*wantRun}, NextPageToken: "tok2"},
		},
		{
			name: "search runs, defaults, empty answer",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.SearchRuns(ctx, mlflow.SearchRunsRequest{})
			},
			resp: `{}`,
			want: recorded{method: "POST", path: "/prefix/api/2.0/mlflow/runs/search", contentType: "application/json",
				body: `{"experiment_ids":[]}`},
			wantValue: &mlflow.SearchRunsResult{},
		},
		{
			name: "metric history",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.GetMetricHistory(ctx, "r1", "system/gpu 0")
			},
			resp: `{"metrics":[{"key":"system/gpu 0","value":1.5,"timestamp":1,"step":0},` +
				`{"key":"system/gpu 0","value":"Infinity","timestamp":"2","step":"1"},` +
				`{"key":"system/gpu 0","value":"-Infinity","timestamp":3,"step":2}]}`,
			want: recorded{method: "GET", path: "/prefix/api/2.0/mlflow/metrics/get-history",
				query: "metric_key=system%2Fgpu+0&run_id=r1"},
			wantValue: []mlflow.Metric{
				{Key: "system/gpu 0", Value: 1.5, Timestamp: 1},
				{Key: "system/gpu 0", Value: math.Inf(1), Timestamp: 2, Step: 1},
				{Key: "system/gpu 0", Value: math.Inf(-1), Timestamp: 3, Step: 2},
			},
		},
		{
			name:      "metric history of a key without points has no metrics field",
			call:      func(ctx context.Context, c *Client) (any, error) { return c.GetMetricHistory(ctx, "r1", "none") },
			resp:      `{}`,
			want:      recorded{method: "GET", path: "/prefix/api/2.0/mlflow/metrics/get-history", query: "metric_key=none&run_id=r1"},
			wantValue: []mlflow.Metric(nil),
		},
		{
			name: "log batch",
			call: func(ctx context.Context, c *Client) (any, error) {
				return nil, c.LogBatch(ctx, "r1", mlflow.Batch{
					Metrics: []mlflow.Metric{{Key: "loss", Value: math.NaN(), Timestamp: 1, Step: 2}, {Key: "acc", Value: 0.5, Timestamp: 3, Step: -4}},
					Params:  []mlflow.Param{{Key: "lr", Value: "0.1"}},
					Tags:    []mlflow.Tag{{Key: "note", Value: "a\"b"}},
				})
			},
			resp: `{}`,
			want: recorded{method: "POST", path: "/prefix/api/2.0/mlflow/runs/log-batch", contentType: "application/json",
				body: `{"run_id":"r1","metrics":[{"key":"loss","value":"NaN","timestamp":1,"step":2},` +
					`{"key":"acc","value":0.5,"timestamp":3,"step":-4}],"params":[{"key":"lr","value":"0.1"}],` +
					`"tags":[{"key":"note","value":"a\"b"}]}`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, rec := newRecordingServer(t, http.StatusOK, tc.resp)
			got, err := tc.call(t.Context(), c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if *rec != tc.want {
				t.Errorf("request\n got %+v\nwant %+v", *rec, tc.want)
			}
			if tc.wantValue != nil && !equalNaN(got, tc.wantValue) {
				t.Errorf("result\n got %#v\nwant %#v", got, tc.wantValue)
			}
		})
	}
}

// equalNaN is reflect.DeepEqual with NaN metric values equal to each other.
func equalNaN(a, b any) bool {
	return reflect.DeepEqual(nanToSentinel(a), nanToSentinel(b))
}

func nanToSentinel(v any) any {
	fix := func(ms []mlflow.Metric) []mlflow.Metric {
		if ms == nil {
			return nil
		}
		out := append([]mlflow.Metric(nil), ms...)
		for i := range out {
			if math.IsNaN(out[i].Value) {
				out[i].Value = -12345.678
			}
		}
		return out
	}
	switch x := v.(type) {
	case []mlflow.Metric:
		return fix(x)
	case *mlflow.Run:
		r := *x
		r.Data.Metrics = fix(r.Data.Metrics)
		return &r
	case *mlflow.SearchRunsResult:
		r := *x
		r.Runs = append([]mlflow.Run(nil), x.Runs...)
		for i := range r.Runs {
			r.Runs[i].Data.Metrics = fix(r.Runs[i].Data.Metrics)
		}
		return &r
	}
	return v
}

func TestUpdateRunRefusesUnknownStatus(t *testing.T) {
	c, rec := newRecordingServer(t, http.StatusOK, `{"run_info":{}}`)
	_, err := c.UpdateRun(t.Context(), mlflow.UpdateRunRequest{RunID: "r1", Status: "DONE"})
	if err == nil {
		t.Fatal("UpdateRun accepted status DONE, which the server would silently ignore")
	}
	if rec.method != "" {
		t.Errorf("request sent despite the invalid status: %+v", *rec)
	}
}

func TestMetricHistoryFollowsPages(t *testing.T) {
	var tokens []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.URL.Query().Get("page_token")
		tokens = append(tokens, tok)
		switch tok {
		case "":
			_, _ = io.WriteString(w, `{"metrics":[{"key":"k","value":1,"timestamp":1,"step":0}],"next_page_token":"p2"}`)
		case "p2":
			_, _ = io.WriteString(w, `{"metrics":[{"key":"k","value":2,"timestamp":2,"step":1}],"next_page_token":"p3"}`)
		default:
			_, _ = io.WriteString(w, `{"metrics":[{"key":"k","value":3,"timestamp":3,"step":2}]}`)
		}
	}))
	defer srv.Close()
	c, err := New(Config{TrackingURI: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.GetMetricHistory(t.Context(), "r1", "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Step != 0 || got[2].Step != 2 {
		t.Errorf("history = %+v, want steps 0..2", got)
	}
	if !reflect.DeepEqual(tokens, []string{"", "p2", "p3"}) {
		t.Errorf("page tokens sent = %q", tokens)
	}
}

func TestFlexInt64(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{`0`, 0, false},
		{`1700000000000`, 1700000000000, false},
		{`"1700000000000"`, 1700000000000, false},
		{`-5`, -5, false},
		{`"-9223372036854775808"`, math.MinInt64, false},
		{`9223372036854775807`, math.MaxInt64, false},
		{`1.7e12`, 1700000000000, false},
		{`null`, 0, false},
		{`""`, 0, false},
		{`1.5`, 0, true},
		{`"abc"`, 0, true},
		{`true`, 0, true},
		{`1e30`, 0, true},
	}
	for _, tc := range tests {
		var f flexInt64
		err := f.UnmarshalJSON([]byte(tc.in))
		if (err != nil) != tc.wantErr || int64(f) != tc.want && !tc.wantErr {
			t.Errorf("flexInt64(%s) = %d, %v; want %d, err=%v", tc.in, f, err, tc.want, tc.wantErr)
		}
	}
}
