//go:build !cgo

package gpureceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/metadata"
)

func TestNoCgoStubSaysSoOnce(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	c := newGPUCollector(gpuSettings{logger: zap.New(core), now: time.Now})
	c.start(context.Background())
	mb := metadata.NewMetricsBuilder(metadata.DefaultMetricsConfig(), component.BuildInfo{}, 1)
	for range 3 {
		c.scrape(context.Background(), mb, time.Now())
	}
	assert.Equal(t, 0, mb.Emit().ResourceMetrics().Len())
	require.NoError(t, c.shutdown())
	require.Equal(t, 1, logs.Len())
	assert.Equal(t, "GPU support not compiled in (CGO_ENABLED=0); emitting host metrics only", logs.All()[0].Message)
}
