//go:build cgo

package gpureceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/metadata"
)

// newMockScraper wires the whole scraper to the fake DGX H100 and a clock the
// caller advances.
func newMockScraper(cfg *Config, clock *time.Time) (*gpuScraper, *mockMachine) {
	m := newMockMachine(clock)
	s := newScraper(cfg, zap.NewNop(), component.BuildInfo{Version: "test"}, func() time.Time { return *clock })
	s.hostname = func() (string, error) { return "test-host", nil }
	s.newGPU = func(set gpuSettings) gpuCollector {
		set.procRoot = fixtureProc
		return newNVMLCollector(m.srv, set)
	}
	return s, m
}

func TestScraperHostAndMockGPUs(t *testing.T) {
	clock := testStart
	cfg := createDefaultConfig().(*Config)
	s, m := newMockScraper(cfg, &clock)
	(&fakeHost{}).install(s.host)
	require.NoError(t, s.start(context.Background(), nil))
	clock = clock.Add(10 * time.Second)
	md, err := s.scrape(context.Background())
	require.NoError(t, err, "a failing GPU power read is not a scrape error; it is a rate-limited warning")
	assert.Equal(t, 1+8+2, md.ResourceMetrics().Len(), "host, 8 GPUs, 2 MIG instances")
	for _, rm := range md.ResourceMetrics().All() {
		h, _ := rm.Resource().Attributes().Get("host.name")
		assert.Equal(t, "test-host", h.Str(), "every resource names its host")
	}
	require.NoError(t, s.shutdown(context.Background()))
	assert.Equal(t, m.gpmAlloc, m.gpmFreed)
}

func TestScraperAllGPUMetricsOffSkipsNVML(t *testing.T) {
	clock := testStart
	cfg := createDefaultConfig().(*Config)
	for id := range metadata.MetricCount {
		if metadata.Descriptors[id].GPU {
			cfg.Metrics.SetEnabled(id, false)
		}
	}
	require.False(t, cfg.Metrics.AnyGPUEnabled())
	s, m := newMockScraper(cfg, &clock)
	require.NoError(t, s.start(context.Background(), nil))
	assert.Empty(t, m.srv.InitCalls(), "NVML is not even loaded")
	require.NoError(t, s.shutdown(context.Background()))
}

// BenchmarkScrapeHostAnd8MockGPUs is BenchmarkScrapeHost plus the NVML path
// against eight fake H100s (moq mocks add their own call bookkeeping).
func BenchmarkScrapeHostAnd8MockGPUs(b *testing.B) {
	clock := time.Now()
	cfg := createDefaultConfig().(*Config)
	s, _ := newMockScraper(cfg, &clock)
	if err := s.start(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.shutdown(context.Background()) })
	b.ReportAllocs()
	for b.Loop() {
		clock = clock.Add(10 * time.Second)
		if _, err := s.scrape(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
