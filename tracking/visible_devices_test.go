package tracking

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/gpuset"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

func TestRunResourceVisibleDevices(t *testing.T) {
	info := &mlflow.RunInfo{RunID: "r1", ExperimentID: "1"}
	get := func(t *testing.T) (string, bool) {
		t.Helper()
		res, err := runResource(context.Background(), "svc", "", info, "")
		require.NoError(t, err)
		v, ok := res.Set().Value(attribute.Key(gpuset.Attr))
		return v.AsString(), ok
	}
	t.Run("cuda", func(t *testing.T) {
		t.Setenv("CUDA_VISIBLE_DEVICES", "2,3")
		t.Setenv("NVIDIA_VISIBLE_DEVICES", "all")
		v, ok := get(t)
		assert.True(t, ok)
		assert.Equal(t, "2,3", v)
	})
	t.Run("cuda set but empty: no GPU", func(t *testing.T) {
		t.Setenv("CUDA_VISIBLE_DEVICES", "")
		v, _ := get(t)
		assert.Equal(t, "none", v)
	})
	t.Run("container toolkit", func(t *testing.T) {
		unsetenv(t, "CUDA_VISIBLE_DEVICES")
		t.Setenv("NVIDIA_VISIBLE_DEVICES", "GPU-aa,GPU-bb")
		v, _ := get(t)
		assert.Equal(t, "GPU-aa,GPU-bb", v)
	})
	t.Run("OTEL_RESOURCE_ATTRIBUTES wins", func(t *testing.T) {
		t.Setenv("CUDA_VISIBLE_DEVICES", "0")
		t.Setenv("OTEL_RESOURCE_ATTRIBUTES", gpuset.Attr+"=1")
		v, _ := get(t)
		assert.Equal(t, "1", v)
	})
	t.Run("neither: absent, the whole host", func(t *testing.T) {
		unsetenv(t, "CUDA_VISIBLE_DEVICES")
		unsetenv(t, "NVIDIA_VISIBLE_DEVICES")
		_, ok := get(t)
		assert.False(t, ok)
	})
}

// unsetenv removes k for the test and restores it after.
func unsetenv(t *testing.T, k string) {
	t.Setenv(k, "") // registers the restore
	require.NoError(t, os.Unsetenv(k))
}

func TestRunResourceSlurmJob(t *testing.T) {
	info := &mlflow.RunInfo{RunID: "r1", ExperimentID: "1"}
	t.Setenv("SLURM_JOB_ID", "4242")
	res, err := runResource(context.Background(), "svc", "", info, "")
	require.NoError(t, err)
	v, ok := res.Set().Value("slurm.job.id")
	assert.True(t, ok)
	assert.Equal(t, "4242", v.AsString())

	unsetenv(t, "SLURM_JOB_ID")
	res, err = runResource(context.Background(), "svc", "", info, "")
	require.NoError(t, err)
	_, ok = res.Set().Value("slurm.job.id")
	assert.False(t, ok, "outside Slurm: absent")
}
