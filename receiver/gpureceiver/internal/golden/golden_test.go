package golden

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func sample(order []string) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for _, id := range order {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("hw.id", id)
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("s")
		for _, name := range []string{"z.gauge", "a.sum"} {
			m := sm.Metrics().AppendEmpty()
			m.SetName(name)
			m.SetUnit("1")
			var dps pmetric.NumberDataPointSlice
			if name == "a.sum" {
				s := m.SetEmptySum()
				s.SetIsMonotonic(true)
				s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
				dps = s.DataPoints()
			} else {
				dps = m.SetEmptyGauge().DataPoints()
			}
			for _, dir := range []string{"tx", "rx"} {
				dp := dps.AppendEmpty()
				dp.Attributes().PutStr("dir", dir)
				dp.SetTimestamp(pcommon.Timestamp(1_000_000_000))
				if name == "a.sum" {
					dp.SetStartTimestamp(1)
					dp.SetIntValue(int64(len(dir) + len(id)))
				} else {
					dp.SetDoubleValue(0.1 + 0.2) // 0.30000000000000004
				}
			}
		}
	}
	return md
}

func TestRenderIsOrderIndependent(t *testing.T) {
	a, err := Render(sample([]string{"GPU-b", "GPU-a"}), Options{})
	require.NoError(t, err)
	b, err := Render(sample([]string{"GPU-a", "GPU-b"}), Options{})
	require.NoError(t, err)
	assert.Equal(t, string(a), string(b))
	assert.Contains(t, string(a), "value: 0.3\n", "float noise is rounded away")
	assert.Contains(t, string(a), "time: set")
	assert.Less(t, indexOf(string(a), "GPU-a"), indexOf(string(a), "GPU-b"))
	assert.Less(t, indexOf(string(a), "name: a.sum"), indexOf(string(a), "name: z.gauge"))
}

func indexOf(s, sub string) int {
	for i := range len(s) - len(sub) + 1 {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestRenderOptions(t *testing.T) {
	out, err := Render(sample([]string{"GPU-a"}), Options{KeepTimestamps: true, IgnoreValues: []string{"a.sum"}})
	require.NoError(t, err)
	assert.Contains(t, string(out), `time: "1970-01-01T00:00:01.000000000Z"`)
	assert.Contains(t, string(out), "value: <any int>")
	assert.Contains(t, string(out), `start: "1970-01-01T00:00:00.000000001Z"`)
}

func TestCompare(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.yaml")
	md := sample([]string{"GPU-a"})
	require.Error(t, Compare(path, md, Options{}), "missing file must fail")

	*update = true
	require.NoError(t, Compare(path, md, Options{}))
	*update = false
	require.NoError(t, Compare(path, md, Options{}))

	md.ResourceMetrics().At(0).Resource().Attributes().PutStr("hw.id", "GPU-other")
	err := Compare(path, md, Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-       hw.id: GPU-a\n")
	assert.Contains(t, err.Error(), "+       hw.id: GPU-other")
}
