package gpureceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	custom := createDefaultConfig().(*Config)
	custom.CollectionInterval = 30 * time.Second
	custom.InitialDelay = 2 * time.Second
	custom.Timeout = 5 * time.Second
	custom.MountPoints = []string{"/", "/data"}
	custom.PIDs = []int32{1234, 5678}
	custom.HostName = "trainer-0"
	custom.PodResourcesSocket = "/var/lib/kubelet/pod-resources/kubelet.sock"
	custom.CgroupRoot = "/host/sys/fs/cgroup"
	custom.Metrics.SetEnabled(metadata.HwGpuSmOccupancy, false)
	custom.Metrics.SetEnabled(metadata.ProcessCPUUtilization, false)

	tests := []struct {
		id      component.ID
		want    component.Config
		wantErr string
	}{
		{id: component.NewID(metadata.Type), want: createDefaultConfig()},
		{id: component.NewIDWithName(metadata.Type, "custom"), want: custom},
		{id: component.NewIDWithName(metadata.Type, "unknown_metric"), wantErr: "hw.gpu.utilisation"},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			err = sub.Unmarshal(cfg)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr, "a misspelt metric name must be rejected")
				return
			}
			require.NoError(t, err)
			require.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, componenttest.CheckConfigStruct(cfg))
	assert.Equal(t, 10*time.Second, cfg.CollectionInterval)
	assert.Equal(t, []string{"/"}, cfg.MountPoints)
	assert.Empty(t, cfg.CgroupRoot, "pods' and jobs' cgroups are read only when asked")
	assert.Equal(t, metadata.DefaultMetricsConfig(), cfg.Metrics)
	require.NoError(t, confmap.Validate(cfg))
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr []string
	}{
		{name: "defaults", mutate: func(*Config) {}},
		{name: "relative mount point", mutate: func(c *Config) { c.MountPoints = []string{"data"} }, wantErr: []string{`"data" is not an absolute path`}},
		{name: "empty mount point", mutate: func(c *Config) { c.MountPoints = []string{""} }, wantErr: []string{`"" is not an absolute path`}},
		{name: "duplicate mount point", mutate: func(c *Config) { c.MountPoints = []string{"/", "/"} }, wantErr: []string{`"/" listed twice`}},
		{name: "bad and duplicate pids", mutate: func(c *Config) { c.PIDs = []int32{0, 7, 7} }, wantErr: []string{"0 is not a valid process id", "7 listed twice"}},
		{name: "relative kubelet socket", mutate: func(c *Config) { c.PodResourcesSocket = "kubelet.sock" }, wantErr: []string{`pod_resources_socket: "kubelet.sock" is not an absolute path`}},
		{name: "relative cgroup root", mutate: func(c *Config) { c.CgroupRoot = "sys/fs/cgroup" }, wantErr: []string{`cgroup_root: "sys/fs/cgroup" is not an absolute path`}},
		{name: "interval too short for GPU sampling", mutate: func(c *Config) { c.CollectionInterval = 50 * time.Millisecond }, wantErr: []string{"below 100ms"}},
		{name: "controller settings still validated", mutate: func(c *Config) { c.CollectionInterval = 0 }, wantErr: []string{"collection_interval"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			tt.mutate(cfg)
			err := confmap.Validate(cfg)
			if len(tt.wantErr) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.wantErr {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}
