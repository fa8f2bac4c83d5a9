package restclient_test

import (
	"testing"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// The SQL store refuses a runs/create whose tags repeat a key and a
// log-batch whose params repeat one, even with equal values; the client
// sends each key once, the last tag value winning.
func TestRepeatedKeysAreSentOnce(t *testing.T) {
	s := mlflowtest.Start(t)
	c := newClient(t, restclient.Config{TrackingURI: s.URL()})
	ctx := t.Context()
	expID, err := mlflow.GetOrCreateExperiment(ctx, c, "repeats", nil)
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.CreateRun(ctx, mlflow.CreateRunRequest{ExperimentID: expID, RunName: "r", Tags: []mlflow.Tag{
		{Key: "host.name", Value: "n1"}, {Key: "team", Value: "a"}, {Key: "host.name", Value: "n1"}, {Key: "team", Value: "b"},
	}})
	if err != nil {
		t.Fatalf("create with repeated tag keys: %v", err)
	}
	err = c.LogBatch(ctx, run.Info.RunID, mlflow.Batch{
		Params: []mlflow.Param{{Key: "lr", Value: "0.1"}, {Key: "lr", Value: "0.1"}},
		Tags:   []mlflow.Tag{{Key: "stage", Value: "1"}, {Key: "stage", Value: "2"}},
	})
	if err != nil {
		t.Fatalf("log-batch with repeated keys: %v", err)
	}
	got, err := c.GetRun(ctx, run.Info.RunID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"host.name": "n1", "team": "b", "stage": "2", "mlflow.runName": "r"}
	tags := map[string]string{}
	for _, tg := range got.Data.Tags {
		tags[tg.Key] = tg.Value
	}
	for k, v := range want {
		if tags[k] != v {
			t.Errorf("tag %s = %q, want %q (all: %v)", k, tags[k], v, tags)
		}
	}
	if len(got.Data.Params) != 1 || got.Data.Params[0] != (mlflow.Param{Key: "lr", Value: "0.1"}) {
		t.Errorf("params = %v", got.Data.Params)
	}
	// A param given two values is the caller's conflict: the server says so.
	err = c.LogBatch(ctx, run.Info.RunID, mlflow.Batch{Params: []mlflow.Param{{Key: "bs", Value: "1"}, {Key: "bs", Value: "2"}}})
	if !mlflow.IsInvalidParameter(err) {
		t.Errorf("conflicting param values in one batch: %v, want invalid parameter", err)
	}
}
