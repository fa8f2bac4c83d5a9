package translate

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

func TestInfoMetricsParamsAndTags(t *testing.T) {
	md := pmetric.NewMetrics()
	_, ms := newResource(md, map[string]any{"service.name": "svc", "mlflow.tag.team": "a"})
	addPoint(addGauge(ms, MetricParams), 123, 1_000_000, map[string]any{"lr": 0.01, "optimizer": "adam", "layers": int64(4)})
	// A sum works as well as a gauge, and several points add up.
	m := ms.AppendEmpty()
	m.SetName(MetricParams)
	sdp := m.SetEmptySum().DataPoints().AppendEmpty()
	sdp.Attributes().PutStr("dataset", "imagenet")
	addPoint(addGauge(ms, MetricTags), 0, 1_000_000, map[string]any{"stage": "warmup", "team": "b", "bad:key": "v"})
	// Histogram-typed info metrics carry nothing usable.
	h := ms.AppendEmpty()
	h.SetName(MetricTags)
	h.SetEmptyHistogram().DataPoints().AppendEmpty().Attributes().PutStr("ignored", "x")

	opts := defaultOptions()
	opts.ResourceTags = nil
	rd, st := translateOne(t, opts, md)
	assert.Empty(t, rd.Points, "info metrics are not logged as metrics")
	assert.Zero(t, rd.EarliestMs)
	assert.Equal(t, map[string]string{"lr": "0.01", "optimizer": "adam", "layers": "4", "dataset": "imagenet"}, paramMap(rd.Params))
	assert.Equal(t, map[string]string{"team": "b", "stage": "warmup", "bad_key" + fnvSuffix("bad:key"): "v"}, tagMap(rd.Tags))
	assert.Len(t, rd.Tags, 3)
	assert.Nil(t, rd.End)
	assert.Equal(t, Stats{}, st)
}

func TestInfoMetricRunEnd(t *testing.T) {
	tests := []struct {
		name   string
		points []map[string]any
		ts     []uint64
		want   *RunEnd
	}{
		{"default FINISHED", []map[string]any{nil}, []uint64{5_000_000}, &RunEnd{mlflow.RunStatusFinished, 5}},
		{"FAILED", []map[string]any{{"status": "FAILED"}}, []uint64{5_000_000}, &RunEnd{mlflow.RunStatusFailed, 5}},
		{"killed lower case", []map[string]any{{"status": "killed"}}, []uint64{5_000_000}, &RunEnd{mlflow.RunStatusKilled, 5}},
		{"garbage status", []map[string]any{{"status": "exploded"}}, []uint64{5_000_000}, &RunEnd{mlflow.RunStatusFinished, 5}},
		{"RUNNING is not an end", []map[string]any{{"status": "RUNNING"}}, []uint64{5_000_000}, &RunEnd{mlflow.RunStatusFinished, 5}},
		{"non-string status", []map[string]any{{"status": int64(1)}}, []uint64{5_000_000}, &RunEnd{mlflow.RunStatusFinished, 5}},
		{"timestamp zero is now", []map[string]any{{"status": "FAILED"}}, []uint64{0}, &RunEnd{mlflow.RunStatusFailed, testNow.UnixMilli()}},
		{
			"latest point wins",
			[]map[string]any{{"status": "KILLED"}, {"status": "FAILED"}, {"status": "FINISHED"}},
			[]uint64{7_000_000, 9_000_000, 8_000_000},
			&RunEnd{mlflow.RunStatusFailed, 9},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := pmetric.NewMetrics()
			_, ms := newResource(md, map[string]any{"service.name": "svc"})
			dps := addGauge(ms, MetricRunEnd)
			for i, attrs := range tt.points {
				addPoint(dps, 1, tt.ts[i], attrs)
			}
			opts := defaultOptions()
			opts.ResourceTags = nil
			rd, _ := translateOne(t, opts, md)
			assert.Equal(t, tt.want, rd.End)
			assert.Empty(t, rd.Points)
			assert.Empty(t, rd.Tags, "the status attribute is not a tag")
		})
	}
}

func TestNewFilterErrors(t *testing.T) {
	tests := []struct {
		name              string
		include, exclude  []string
		declared          []DeclaredMetric
		wantErr           string
		wantDeclaredTypes map[string]string
	}{
		{name: "empty include", include: []string{""}, wantErr: "empty metric name pattern"},
		{name: "empty exclude", exclude: []string{"a", ""}, wantErr: "empty metric name pattern"},
		{name: "nameless declared", declared: []DeclaredMetric{{Type: "float"}}, wantErr: "without a name"},
		{name: "unknown type", declared: []DeclaredMetric{{Name: "m", Type: "string"}}, wantErr: `unknown type "string"`},
		{
			name: "type aliases",
			declared: []DeclaredMetric{
				{Name: "a"}, {Name: "b", Type: "Double"}, {Name: "c", Type: "number"}, {Name: "d", Type: "INT"},
				{Name: "e", Type: "integer"}, {Name: "f", Type: "long"}, {Name: "g", Type: "float"},
			},
			wantDeclaredTypes: map[string]string{"a": "float", "b": "float", "c": "float", "d": "int", "e": "int", "f": "int", "g": "float"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFilter(tt.include, tt.exclude, tt.declared)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			for name, typ := range tt.wantDeclaredTypes {
				ok, got := f.Allows(name)
				assert.True(t, ok, name)
				assert.Equal(t, typ, got, name)
			}
		})
	}
}

func TestFilterAllows(t *testing.T) {
	tests := []struct {
		name             string
		include, exclude []string
		declared         []DeclaredMetric
		metric           string
		want             bool
		wantType         string
	}{
		{name: "no rules", metric: "anything", want: true},
		{name: "include exact", include: []string{"loss"}, metric: "loss", want: true},
		{name: "include exact miss", include: []string{"loss"}, metric: "loss2", want: false},
		{name: "star crosses slash", include: []string{"train/*"}, metric: "train/a/b", want: true},
		{name: "star matches empty", include: []string{"loss*"}, metric: "loss", want: true},
		{name: "star inside", include: []string{"gpu.*.util"}, metric: "gpu.0.mem.util", want: true},
		{name: "two stars", include: []string{"*a*b"}, metric: "xxaYYb", want: true},
		{name: "two stars miss", include: []string{"*a*b"}, metric: "xxaYYbc", want: false},
		{name: "prefix mismatch", include: []string{"sys*"}, metric: "ysys", want: false},
		{name: "star only", include: []string{"*"}, metric: "", want: true},
		{name: "no other wildcard", include: []string{"a?c"}, metric: "abc", want: false},
		{name: "exclude wins over include", include: []string{"*"}, exclude: []string{"system.*"}, metric: "system.cpu", want: false},
		{name: "exclude alone", exclude: []string{"debug*"}, metric: "loss", want: true},
		{name: "exclude wins over declared", exclude: []string{"loss"}, declared: []DeclaredMetric{{Name: "loss"}}, metric: "loss", want: false},
		{name: "declared passes", declared: []DeclaredMetric{{Name: "acc", Type: "int"}}, metric: "acc", want: true, wantType: "int"},
		{name: "declared only rejects others", declared: []DeclaredMetric{{Name: "acc"}}, metric: "loss", want: false},
		{name: "declared plus include", include: []string{"l*"}, declared: []DeclaredMetric{{Name: "acc"}}, metric: "loss", want: true},
		{name: "declared is not a pattern", declared: []DeclaredMetric{{Name: "a*"}}, metric: "ab", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFilter(tt.include, tt.exclude, tt.declared)
			require.NoError(t, err)
			ok, typ := f.Allows(tt.metric)
			assert.Equal(t, tt.want, ok)
			assert.Equal(t, tt.wantType, typ)
		})
	}
	var nilFilter *Filter
	ok, typ := nilFilter.Allows("x")
	assert.True(t, ok)
	assert.Empty(t, typ)
}

func TestFilterInTranslation(t *testing.T) {
	f, err := NewFilter([]string{"train/*"}, []string{"train/debug*"}, []DeclaredMetric{{Name: "epoch", Type: "int"}, {Name: "acc", Type: "float"}})
	require.NoError(t, err)
	opts := defaultOptions()
	opts.Filter = f

	md := pmetric.NewMetrics()
	_, ms := newResource(md, map[string]any{"service.name": "svc"})
	addPoint(addGauge(ms, "train/loss"), 0.5, 1_000_000, nil)
	dbg := addGauge(ms, "train/debug/grad")
	addPoint(dbg, 1, 1_000_000, nil)
	addPoint(dbg, 2, 1_000_000, map[string]any{"layer": "1"})
	addPoint(addGauge(ms, "val/loss"), 0.7, 1_000_000, nil)
	ep := addGauge(ms, "epoch")
	addPoint(ep, 3, 1_000_000, map[string]any{"i": "a"}) // integral double: fine
	addPoint(ep, 3.5, 1_000_000, map[string]any{"i": "b"})
	ep.AppendEmpty().SetIntValue(4)
	addPoint(addGauge(ms, "acc"), 0.25, 1_000_000, nil)
	// A histogram of a filtered name counts its points, not its MLflow keys.
	hm := ms.AppendEmpty()
	hm.SetName("other")
	hm.SetEmptyHistogram().DataPoints().AppendEmpty().SetCount(1)
	// Info metrics are never filtered.
	addPoint(addGauge(ms, MetricParams), 0, 1_000_000, map[string]any{"lr": "0.1"})
	addPoint(addGauge(ms, MetricRunEnd), 0, 1_000_000, nil)

	rd, st := translateOne(t, opts, md)
	assert.Equal(t, []string{"train/loss", "epoch/i_a", "epoch", "acc"}, keysOf(rd))
	assert.Equal(t, map[string]string{"lr": "0.1"}, paramMap(rd.Params))
	assert.NotNil(t, rd.End)
	var want Stats
	want.Dropped[DropFiltered] = 4
	want.Dropped[DropTypeMismatch] = 1
	assert.Equal(t, want, st)
}
