package filestore

import (
	"encoding/json"
	"math"
	"math/big"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// The fixtures hold PyYAML's and Python's own output, produced by
// testdata/gen_pyfixtures.py; the Go port must match them byte for byte.

func TestMarshalPyYAMLMatchesPyYAML(t *testing.T) {
	data, err := os.ReadFile("testdata/pyyaml_cases.json")
	require.NoError(t, err)
	var cases []struct{ Key, Value, YAML string }
	require.NoError(t, json.Unmarshal(data, &cases))
	require.Greater(t, len(cases), 500)
	for _, c := range cases {
		got, err := marshalPyYAML(yamlMapping{c.Key: c.Value})
		require.NoError(t, err)
		if !assert.Equal(t, c.YAML, string(got), "value %q", c.Value) {
			continue
		}
		// What we write must also load back as the same string.
		var back map[string]string
		require.NoError(t, yaml.Unmarshal(got, &back), "value %q", c.Value)
		if !strings.ContainsAny(c.Value, "\r\u0085\u2028\u2029") {
			// yaml.v3 folds these breaks differently from PyYAML's loader;
			// the byte equality above is what MLflow depends on.
			assert.Equal(t, c.Value, back[c.Key], "round trip of %q", c.Value)
		}
	}
}

func TestMarshalPyYAMLMapping(t *testing.T) {
	got, err := marshalPyYAML(yamlMapping{
		"tags": yamlEmptyList{}, "end_time": yamlNull{}, "status": 3, "start_time": int64(1795650496047),
		"experiment_id": "994765542452891481", "entry_point_name": "",
	})
	require.NoError(t, err)
	assert.Equal(t, "end_time: null\nentry_point_name: ''\nexperiment_id: '994765542452891481'\n"+
		"start_time: 1795650496047\nstatus: 3\ntags: []\n", string(got))

	_, err = marshalPyYAML(yamlMapping{"bad key": "x"})
	assert.Error(t, err)
	_, err = marshalPyYAML(yamlMapping{"k": 1.5})
	assert.Error(t, err)
}

func TestPyFloatReprMatchesPython(t *testing.T) {
	data, err := os.ReadFile("testdata/pyfloat_cases.json")
	require.NoError(t, err)
	var cases []struct {
		Bits uint64
		Repr string
	}
	require.NoError(t, json.Unmarshal(data, &cases))
	require.Greater(t, len(cases), 500)
	for _, c := range cases {
		v := math.Float64frombits(c.Bits)
		require.Equal(t, c.Repr, pyFloatRepr(v), "bits %#x", c.Bits)
		back, err := parsePyFloat(c.Repr)
		require.NoError(t, err)
		if math.IsNaN(v) {
			assert.True(t, math.IsNaN(back))
		} else {
			assert.Equal(t, c.Bits, math.Float64bits(back), "round trip of %s", c.Repr)
		}
	}
}

func TestParseMetricLine(t *testing.T) {
	tests := []struct {
		line    string
		want    mlflow.Metric
		wantErr bool
	}{
		{line: "1000 1.5 3", want: mlflow.Metric{Key: "k", Timestamp: 1000, Value: 1.5, Step: 3}},
		{line: "1000 1.5", want: mlflow.Metric{Key: "k", Timestamp: 1000, Value: 1.5}},
		{line: "1000 -inf 0", want: mlflow.Metric{Key: "k", Timestamp: 1000, Value: math.Inf(-1)}},
		{line: "1000 Infinity 0", want: mlflow.Metric{Key: "k", Timestamp: 1000, Value: math.Inf(1)}},
		{line: "  1000 2 7  \r", want: mlflow.Metric{Key: "k", Timestamp: 1000, Value: 2, Step: 7}},
		{line: "1000", wantErr: true},
		{line: "1000 1 2 3", wantErr: true},
		{line: "1000  1 2", wantErr: true}, // split(" ") yields an empty field
		{line: "x 1 2", wantErr: true},
		{line: "1000 abc 2", wantErr: true},
		{line: "1000 0x1p3 2", wantErr: true},
		{line: "1000 1 2.5", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, err := parseMetricLine("k", []byte(tt.line))
			if tt.wantErr {
				assert.ErrorIs(t, err, errMalformedMetricLine)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	got, err := parseMetricLine("k", []byte("5 nan 1"))
	require.NoError(t, err)
	assert.True(t, math.IsNaN(got.Value))
}

func TestSplitMetricLinesSkipsTornTail(t *testing.T) {
	var lines []string
	require.NoError(t, splitMetricLines([]byte("1 1 0\n2 2 1\n3 3"), func(l []byte) error {
		lines = append(lines, string(l))
		return nil
	}))
	assert.Equal(t, []string{"1 1 0", "2 2 1"}, lines)
}

func TestIDGenerators(t *testing.T) {
	var r RandomIDs
	for i := 0; i < 200; i++ {
		id := r.NewRunID()
		require.Regexp(t, `^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$`, id)
		exp := r.NewExperimentID()
		require.Regexp(t, `^[1-9][0-9]{17}$`, exp)
		require.Regexp(t, `^[a-z]+-[a-z]+-[0-9]{1,4}$`, r.NewRunName())
	}
	// Leading zeros of the 18-digit tail are replaced by digits at the end.
	var b [16]byte
	new(big.Int).SetUint64(10_000_000_000_000_000_042).FillBytes(b[:])
	assert.Equal(t, "429999999999999999", experimentIDFrom(b, func() int { return 9 }))
	// Like MLflow, an integer shorter than 18 digits stays short.
	b = [16]byte{15: 42}
	assert.Equal(t, "42", experimentIDFrom(b, func() int { return 9 }))
}

// pyFloatRepr formats v as Python's repr(float) (and so str(float), which
// MLflow's f"{metric.value}" uses).
func pyFloatRepr(v float64) string { return string(appendPyFloat(nil, v)) }
