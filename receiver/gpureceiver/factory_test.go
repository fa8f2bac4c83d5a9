package gpureceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/metadata"
)

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, component.MustNewType("gpu"), f.Type())
	assert.Equal(t, component.StabilityLevelDevelopment, f.MetricsStability())
}

// TestShutdownWithoutStart: the collector shuts down components that never
// started (another component failed to start first).
func TestShutdownWithoutStart(t *testing.T) {
	rcv, err := NewFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), createDefaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, rcv.Shutdown(context.Background()))
}

// TestLifecycle runs the receiver as the collector would, on this machine:
// real gopsutil, and the real NVML binding, which on a host without an NVIDIA
// driver (or in a CGO_ENABLED=0 build) must cost GPU metrics only.
func TestLifecycle(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)

	cfg := createDefaultConfig().(*Config)
	cfg.InitialDelay = 0 // first scrape right at start
	cfg.CollectionInterval = time.Hour

	sink := new(consumertest.MetricsSink)
	rcv, err := NewFactory().CreateMetrics(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	require.Eventually(t, func() bool { return sink.DataPointCount() > 0 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, rcv.Shutdown(context.Background()))

	md := sink.AllMetrics()[0]
	names := metricNames(md)
	assert.Contains(t, names, "system.memory.usage")
	assert.Contains(t, names, "system.filesystem.usage")
	host, ok := md.ResourceMetrics().At(0).Resource().Attributes().Get("host.name")
	require.True(t, ok)
	assert.NotEmpty(t, host.Str())

	if len(resourcesWithHwID(md)) == 0 {
		// No GPU data: exactly one line must say why.
		assert.Equal(t, 1, logs.FilterMessageSnippet("GPU").Len(), "%v", logs.All())
		assert.Equal(t, 0, logs.FilterLevelExact(zapcore.ErrorLevel).Len(), "%v", logs.All())
	}
}

func resourcesWithHwID(md pmetric.Metrics) []string {
	var ids []string
	for _, rm := range md.ResourceMetrics().All() {
		if v, ok := rm.Resource().Attributes().Get("hw.id"); ok {
			ids = append(ids, v.Str())
		}
	}
	return ids
}
