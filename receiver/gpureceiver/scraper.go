package gpureceiver

import (
	"context"
	"os"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/metadata"
)

// warnEvery bounds how often one recurring problem (a GPU call that keeps
// failing, a configured process that is gone) is logged.
const warnEvery = 5 * time.Minute

type gpuScraper struct {
	cfg       *Config
	logger    *zap.Logger
	buildInfo component.BuildInfo
	now       func() time.Time
	hostname  func() (string, error)

	host *hostScraper
	gpu  gpuCollector
	// newGPU builds the GPU side at start; tests swap in a mock NVML.
	newGPU func(gpuSettings) gpuCollector

	hostName string
	mb       *metadata.MetricsBuilder
}

func newScraper(cfg *Config, logger *zap.Logger, bi component.BuildInfo, now func() time.Time) *gpuScraper {
	return &gpuScraper{
		cfg:       cfg,
		logger:    logger,
		buildInfo: bi,
		now:       now,
		hostname:  os.Hostname,
		host:      newHostScraper(cfg, newWarnLimiter(logger, warnEvery, now)),
		newGPU:    newGPUCollector,
	}
}

// start never fails because of the GPU: a missing driver or a cgo-less build
// is logged once and the receiver carries on with host metrics.
func (s *gpuScraper) start(ctx context.Context, _ component.Host) error {
	now := s.now()
	s.hostName = s.cfg.HostName
	if s.hostName == "" {
		h, err := s.hostname()
		if err != nil {
			s.logger.Warn("Cannot read the host name; host.name will be missing", zap.Error(err))
		}
		s.hostName = h
	}
	s.mb = metadata.NewMetricsBuilder(s.cfg.Metrics, s.buildInfo, pcommon.NewTimestampFromTime(now))
	s.host.start(ctx, now)
	if s.cfg.Metrics.AnyGPUEnabled() {
		s.gpu = s.newGPU(gpuSettings{
			logger:    s.logger,
			hostName:  s.hostName,
			interval:  s.cfg.CollectionInterval,
			now:       s.now,
			warnEvery: warnEvery,
			enabled:   s.cfg.Metrics.EnabledSet(),
		})
		s.gpu.start(ctx)
	}
	return nil
}

func (s *gpuScraper) scrape(ctx context.Context) (pmetric.Metrics, error) {
	now := s.now()
	ts := pcommon.NewTimestampFromTime(now)
	rb := metadata.NewResourceBuilder()
	rb.SetHostName(s.hostName)
	err := s.host.scrape(ctx, s.mb.NewResource(rb.Emit(), ts), s.mb, now)
	if s.gpu != nil {
		s.gpu.scrape(ctx, s.mb, now)
	}
	return s.mb.Emit(), err
}

func (s *gpuScraper) shutdown(context.Context) error {
	if s.gpu == nil {
		return nil
	}
	err := s.gpu.shutdown()
	s.gpu = nil
	return err
}
