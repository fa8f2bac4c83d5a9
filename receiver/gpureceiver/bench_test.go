package gpureceiver

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"
)

// BenchmarkScrapeHost measures one scrape of the real host through gopsutil
// (GPU side inert: no NVIDIA driver here, or a no-cgo build).
func BenchmarkScrapeHost(b *testing.B) {
	cfg := createDefaultConfig().(*Config)
	s := newScraper(cfg, zap.NewNop(), component.BuildInfo{}, time.Now)
	if err := s.start(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.shutdown(context.Background()) })
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.scrape(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
