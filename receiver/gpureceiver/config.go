package gpureceiver

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/metadata"
)

// defaultCollectionInterval matches MLflow's own system-metrics sampling.
const defaultCollectionInterval = 10 * time.Second

// Config is the gpu receiver's configuration.
type Config struct {
	scraperhelper.ControllerConfig `mapstructure:",squash"`

	// Metrics holds one enabled switch per metric.
	Metrics metadata.MetricsConfig `mapstructure:"metrics"`

	// MountPoints are the filesystems whose usage is reported.
	MountPoints []string `mapstructure:"mount_points"`

	// PIDs are host processes (typically the training job) whose CPU and
	// resident memory are reported. GPU memory and utilisation are reported
	// for every process on the GPU regardless of this list.
	PIDs []int32 `mapstructure:"pids"`

	// HostName overrides the host.name resource attribute (default: os.Hostname).
	HostName string `mapstructure:"host_name"`

	// PodResourcesSocket is the kubelet's PodResources API socket
	// (/var/lib/kubelet/pod-resources/kubelet.sock) on a Kubernetes node:
	// each GPU then names the pods it is allocated to (otelcol.gpu.pods)
	// and the host every pod of the node (otelcol.kubelet.pods), so that
	// the mlflow exporter gives each run its pod's GPUs. Empty: not asked.
	PodResourcesSocket string `mapstructure:"pod_resources_socket"`

	// CgroupRoot is the host's cgroup v2 mount (/sys/fs/cgroup, or where a
	// container mounts the host's): every scrape then reports each
	// Kubernetes pod and Slurm job found under it as a resource of its own
	// (k8s.pod.uid or slurm.job.id) with its cgroup's CPU, memory and disk
	// I/O (container.*), so that a run gets its pod's or job's figures
	// instead of the whole host's. Empty: not read.
	CgroupRoot string `mapstructure:"cgroup_root"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// Validate checks the receiver-specific settings; the embedded controller
// settings are validated by their own Validate.
func (c *Config) Validate() error {
	var errs []error
	if c.CollectionInterval > 0 && c.CollectionInterval < gpmMinGap {
		errs = append(errs, fmt.Errorf("collection_interval %v is below %v, the shortest interval the GPU sampling supports", c.CollectionInterval, gpmMinGap))
	}
	seen := make(map[string]bool, len(c.MountPoints))
	for _, mp := range c.MountPoints {
		switch {
		case mp == "" || !filepath.IsAbs(mp):
			errs = append(errs, fmt.Errorf("mount_points: %q is not an absolute path", mp))
		case seen[mp]:
			errs = append(errs, fmt.Errorf("mount_points: %q listed twice", mp))
		}
		seen[mp] = true
	}
	if c.PodResourcesSocket != "" && !filepath.IsAbs(c.PodResourcesSocket) {
		errs = append(errs, fmt.Errorf("pod_resources_socket: %q is not an absolute path", c.PodResourcesSocket))
	}
	if c.CgroupRoot != "" && !filepath.IsAbs(c.CgroupRoot) {
		errs = append(errs, fmt.Errorf("cgroup_root: %q is not an absolute path", c.CgroupRoot))
	}
	pids := make(map[int32]bool, len(c.PIDs))
	for _, pid := range c.PIDs {
		switch {
		case pid <= 0:
			errs = append(errs, fmt.Errorf("pids: %d is not a valid process id", pid))
		case pids[pid]:
			errs = append(errs, fmt.Errorf("pids: %d listed twice", pid))
		}
		pids[pid] = true
	}
	return errors.Join(errs...)
}
