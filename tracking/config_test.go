package tracking

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLoadConfig(t *testing.T) {
	cfg, err := LoadConfig("testdata/config.yaml")
	require.NoError(t, err)
	require.Equal(t, Config{
		TrackingURI:    "databricks",
		ExperimentName: "cv_experiment",
		RunName:        "run_1",
		Tags:           map[string]string{"team": "vision"},
		Logging: Logging{
			Metrics: []Declaration{{"loss", "float"}, {"accuracy", "float"}, {"epoch", "int"}},
			Parameters: []Declaration{{"learning_rate", "float"}, {"batch_size", "int"},
				{"optimizer", "string"}, {"augment", "bool"}},
			Undeclared: UndeclaredReject,
		},
		OTLP: OTLP{Endpoint: "localhost:4317", ExportInterval: 500 * time.Millisecond, BufferSize: 5000},
	}, cfg)

	_, err = LoadConfig("testdata/missing.yaml")
	require.ErrorContains(t, err, "missing.yaml")
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"no section", "other: 1", "no mlflow: section"},
		{"typo", "mlflow:\n  experiment: x", "field experiment not found"},
		{"unknown type", "mlflow:\n  logging:\n    metrics: [{name: loss, type: tensor}]", `"loss": type "tensor"`},
		{"string metric", "mlflow:\n  logging:\n    metrics: [{name: loss, type: str}]", `type "str" not one of [float int]`},
		{"duplicate", "mlflow:\n  logging:\n    parameters: [{name: a, type: int}, {name: a, type: int}]", `"a" declared twice`},
		{"bad key", "mlflow:\n  logging:\n    metrics: [{name: 'a{b}', type: float}]", "not allowed"},
		{"policy", "mlflow:\n  logging:\n    undeclared: maybe", `"maybe" is not warn, allow or reject`},
		{"protocol", "mlflow:\n  otlp:\n    protocol: udp", `"udp" is not grpc`},
		{"negative", "mlflow:\n  otlp:\n    buffer_size: -1", "must not be negative"},
		{"bad duration", "mlflow:\n  otlp:\n    export_interval: soon", "line 3: cannot unmarshal !!str `soon`"},
		{"not yaml", "mlflow: [", "parse tracking config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml))
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestParseConfigTypeSpellings(t *testing.T) {
	cfg, err := ParseConfig([]byte(strings.Join([]string{
		"mlflow:",
		"  logging:",
		"    parameters: [{name: a, type: Integer}, {name: b, type: double}, {name: c, type: boolean}, {name: d, type: text}]",
	}, "\n")))
	require.NoError(t, err)
	d := newDeclarations("parameter", cfg.Logging.Parameters, UndeclaredAllow, nil)
	require.Equal(t, map[string]ValueType{"a": TypeInt, "b": TypeFloat, "c": TypeBool, "d": TypeString}, d.types)
}
