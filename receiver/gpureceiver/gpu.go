package gpureceiver

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/metadata"
)

// gpuCollector is what the scraper needs from the GPU side. It has two
// implementations chosen at build time: NVML (cgo) and a stub (no cgo).
// Neither ever fails the receiver: a GPU problem costs GPU metrics only.
type gpuCollector interface {
	// start loads the vendor library and discovers devices; problems are
	// logged, never returned, so that host metrics keep flowing.
	start(ctx context.Context)
	// scrape records GPU metrics into mb, one resource per GPU / MIG instance.
	scrape(ctx context.Context, mb *metadata.MetricsBuilder, now time.Time)
	shutdown() error
}

// gpmMinGap is the shortest sample spacing NVML accepts for GPM metrics.
const gpmMinGap = 100 * time.Millisecond

// gpuSettings is what a gpuCollector needs from the receiver.
type gpuSettings struct {
	logger   *zap.Logger
	hostName string
	interval time.Duration
	now      func() time.Time
	// warnEvery is the minimum gap between two identical warnings.
	warnEvery time.Duration
	// enabled lets start skip work (GPM buffers) for metrics nobody wants.
	enabled [metadata.MetricCount]bool
	// procRoot, when set, is the /proc read for GPU processes' namespaces
	// instead of HOST_PROC or /proc (tests).
	procRoot string
	// podsOf, when the kubelet is read, lists the pods ("namespace/name")
	// a device (GPU or MIG UUID) is allocated to; known is false when the
	// kubelet has not answered.
	podsOf func(deviceID string) (pods []string, known bool)
}
