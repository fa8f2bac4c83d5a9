package translate

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

func tagMap(tags []mlflow.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, tg := range tags {
		m[tg.Key] = tg.Value
	}
	return m
}

func paramMap(params []mlflow.Param) map[string]string {
	m := make(map[string]string, len(params))
	for _, p := range params {
		m[p.Key] = p.Value
	}
	return m
}

// TestResourceTagsAndParams covers the tag and param rows of docs/mapping.md §1.
func TestResourceTagsAndParams(t *testing.T) {
	tests := []struct {
		name         string
		attrs        map[string]any
		resourceTags []string
		wantTags     map[string]string
		wantParams   map[string]string
	}{
		{
			name: "default resource_tags",
			attrs: map[string]any{
				"service.name": "svc", "service.version": "1.2", "service.instance.id": "i-1",
				"host.name": "node1", "process.pid": int64(4242), "deployment.environment": "prod",
			},
			resourceTags: defaultResourceTags,
			wantTags: map[string]string{
				"service.name": "svc", "service.version": "1.2", "service.instance.id": "i-1",
				"host.name": "node1", "process.pid": "4242",
			},
			wantParams: map[string]string{},
		},
		{
			name:         "custom resource_tags, absent ones skipped",
			attrs:        map[string]any{"service.name": "svc", "k8s.pod.name": "pod-1"},
			resourceTags: []string{"k8s.pod.name", "cloud.region"},
			wantTags:     map[string]string{"k8s.pod.name": "pod-1"},
			wantParams:   map[string]string{},
		},
		{
			name: "system tags",
			attrs: map[string]any{
				"service.name": "svc", "vcs.ref.head.revision": "deadbeef", "vcs.ref.head.name": "main",
				"vcs.repository.url.full": "https://example.com/r.git", "process.executable.name": "train.py",
				"user.name": "alice",
			},
			wantTags: map[string]string{
				"mlflow.source.git.commit": "deadbeef", "mlflow.source.git.branch": "main",
				"mlflow.source.git.repoURL": "https://example.com/r.git", "mlflow.source.name": "train.py",
				"mlflow.user": "alice",
			},
			wantParams: map[string]string{},
		},
		{
			name:       "enduser.id when user.name is absent",
			attrs:      map[string]any{"service.name": "svc", "enduser.id": "bob"},
			wantTags:   map[string]string{"mlflow.user": "bob"},
			wantParams: map[string]string{},
		},
		{
			name:       "user.name wins over enduser.id",
			attrs:      map[string]any{"service.name": "svc", "user.name": "alice", "enduser.id": "bob"},
			wantTags:   map[string]string{"mlflow.user": "alice"},
			wantParams: map[string]string{},
		},
		{
			name:       "empty system tag source ignored",
			attrs:      map[string]any{"service.name": "svc", "vcs.ref.head.name": ""},
			wantTags:   map[string]string{},
			wantParams: map[string]string{},
		},
		{
			name: "mlflow.param. and mlflow.tag. prefixes",
			attrs: map[string]any{
				"service.name": "svc", "mlflow.param.lr": 0.001, "mlflow.param.batch_size": int64(64),
				"mlflow.param.": "no key", "mlflow.tag.team": "vision", "mlflow.tag.": "no key",
				"mlflow.param.opt/name": "adam",
			},
			wantTags:   map[string]string{"team": "vision"},
			wantParams: map[string]string{"lr": "0.001", "batch_size": "64", "opt/name": "adam"},
		},
		{
			name:       "mlflow.tag. wins over a mapped system tag",
			attrs:      map[string]any{"service.name": "svc", "user.name": "alice", "mlflow.tag.mlflow.user": "carol"},
			wantTags:   map[string]string{"mlflow.user": "carol"},
			wantParams: map[string]string{},
		},
		{
			name:       "param and tag keys sanitised",
			attrs:      map[string]any{"service.name": "svc", "mlflow.param.a:b": "1", "mlflow.tag.x{y}": "2"},
			wantTags:   map[string]string{"x_y_" + fnvSuffix("x{y}"): "2"},
			wantParams: map[string]string{"a_b" + fnvSuffix("a:b"): "1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := defaultOptions()
			opts.ResourceTags = tt.resourceTags
			md := pmetric.NewMetrics()
			newResource(md, tt.attrs)
			rd, st := translateOne(t, opts, md)
			assert.Equal(t, tt.wantTags, tagMap(rd.Tags))
			assert.Len(t, rd.Tags, len(tt.wantTags), "duplicate tag keys")
			assert.Equal(t, tt.wantParams, paramMap(rd.Params))
			for _, tg := range rd.Tags {
				mlflowAccepts(t, tg.Key)
			}
			for _, p := range rd.Params {
				mlflowAccepts(t, p.Key)
			}
			assert.Zero(t, st.Truncated)
		})
	}
}

func TestValueTruncation(t *testing.T) {
	tests := []struct {
		name          string
		param, tag    string
		wantParamLen  int
		wantTagLen    int
		wantTruncated int
	}{
		{"at the limits", strings.Repeat("p", 6000), strings.Repeat("t", 5000), 6000, 5000, 0},
		{"one over", strings.Repeat("p", 6001), strings.Repeat("t", 5001), 6000, 5000, 2},
		// Limits count characters, as MLflow's Python len() does, not bytes.
		{"multibyte at the limits", strings.Repeat("ä", 6000), strings.Repeat("猫", 5000), 6000, 5000, 0},
		{"multibyte over", strings.Repeat("ä", 7000), strings.Repeat("猫", 5001), 6000, 5000, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := pmetric.NewMetrics()
			_, ms := newResource(md, map[string]any{"service.name": "svc", "mlflow.param.p": tt.param, "mlflow.tag.t": tt.tag})
			// The same limits apply to params and tags from info metrics.
			addPoint(addGauge(ms, MetricParams), 0, 1, map[string]any{"q": tt.param})
			addPoint(addGauge(ms, MetricTags), 0, 1, map[string]any{"u": tt.tag})
			rd, st := translateOne(t, defaultOptions(), md)
			params, tags := paramMap(rd.Params), tagMap(rd.Tags)
			for _, k := range []string{"p", "q"} {
				assert.Len(t, []rune(params[k]), tt.wantParamLen, k)
				assert.True(t, strings.HasPrefix(tt.param, params[k]), "param %s is not a prefix of the value", k)
			}
			for _, k := range []string{"t", "u"} {
				assert.Len(t, []rune(tags[k]), tt.wantTagLen, k)
				assert.True(t, strings.HasPrefix(tt.tag, tags[k]), "tag %s is not a prefix of the value", k)
			}
			assert.Equal(t, 2*tt.wantTruncated, st.Truncated)
		})
	}
}
