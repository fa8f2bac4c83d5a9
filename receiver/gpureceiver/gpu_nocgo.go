//go:build !cgo

package gpureceiver

import (
	"context"
	"time"

	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/metadata"
)

// errNoCgo is what a collector built with CGO_ENABLED=0 says instead of GPU metrics.
const errNoCgo = "GPU support not compiled in (CGO_ENABLED=0); emitting host metrics only"

// newGPUCollector returns a collector that only reports, once, that NVML
// could not be linked; go-nvml needs cgo.
func newGPUCollector(set gpuSettings) gpuCollector {
	return &noGPU{set: set}
}

type noGPU struct {
	set gpuSettings
}

func (n *noGPU) start(context.Context) {
	n.set.logger.Warn(errNoCgo)
}

func (*noGPU) scrape(context.Context, *metadata.MetricsBuilder, time.Time) {}

func (*noGPU) shutdown() error { return nil }
