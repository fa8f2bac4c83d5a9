package gpureceiver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/podresources"
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
	// cgroups reads the pods' and Slurm jobs' cgroups; nil without
	// cgroup_root.
	cgroups *cgroupScraper
	gpu     gpuCollector
	// newGPU builds the GPU side at start; tests swap in a mock NVML.
	newGPU func(gpuSettings) gpuCollector

	hostName string
	mb       *metadata.MetricsBuilder
	// pods reads the kubelet's PodResources API; nil without
	// pod_resources_socket. snap is its answer for the scrape under way.
	pods *podresources.Client
	snap *podresources.Snapshot
	warn *warnLimiter
}

func newScraper(cfg *Config, logger *zap.Logger, bi component.BuildInfo, now func() time.Time) *gpuScraper {
	s := &gpuScraper{
		cfg:       cfg,
		logger:    logger,
		buildInfo: bi,
		now:       now,
		hostname:  os.Hostname,
		host:      newHostScraper(cfg, newWarnLimiter(logger, warnEvery, now)),
		newGPU:    newGPUCollector,
	}
	if cfg.CgroupRoot != "" {
		s.cgroups = newCgroupScraper(cfg.CgroupRoot, logger, newWarnLimiter(logger, warnEvery, now), s.host)
	}
	return s
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
	set := gpuSettings{
		logger:    s.logger,
		hostName:  s.hostName,
		interval:  s.cfg.CollectionInterval,
		now:       s.now,
		warnEvery: warnEvery,
		enabled:   s.cfg.Metrics.EnabledSet(),
	}
	if sock := s.cfg.PodResourcesSocket; sock != "" {
		pods, err := podresources.New(sock)
		if err != nil {
			return fmt.Errorf("pod_resources_socket: %w", err)
		}
		s.pods, s.warn = pods, newWarnLimiter(s.logger, warnEvery, s.now)
		_, _ = pods.Peek() // ask now, in the background: a scrape never waits for the kubelet
		set.podsOf = s.podsOf
	}
	if s.cfg.Metrics.AnyGPUEnabled() {
		s.gpu = s.newGPU(set)
		s.gpu.start(ctx)
	}
	return nil
}

// kubeletAnswer takes the kubelet's latest answer for this scrape without
// waiting (a refresh runs in the background); a kubelet that stopped
// answering keeps its last answer and is logged, at most every warnEvery.
func (s *gpuScraper) kubeletAnswer() *podresources.Snapshot {
	snap, err := s.pods.Peek()
	if err != nil && !errors.Is(err, podresources.ErrNoAnswerYet) {
		s.warn.Warn("kubelet", "The kubelet's PodResources API does not answer: GPUs name the pods of its last answer, or none; the exporter then finds runs' GPUs another way",
			zap.String("socket", s.pods.Socket()), zap.Error(err))
	}
	return snap
}

func (s *gpuScraper) podsOf(deviceID string) ([]string, bool) {
	if s.snap == nil {
		return nil, false
	}
	refs := s.snap.Holders(deviceID)
	pods := make([]string, len(refs))
	for i, r := range refs {
		pods[i] = r.String()
	}
	return pods, true
}

func (s *gpuScraper) scrape(ctx context.Context) (pmetric.Metrics, error) {
	now := s.now()
	ts := pcommon.NewTimestampFromTime(now)
	rb := metadata.NewResourceBuilder()
	rb.SetHostName(s.hostName)
	if s.pods != nil {
		if s.snap = s.kubeletAnswer(); s.snap != nil {
			rb.SetOtelcolKubeletPods(s.snap.Names())
		}
	}
	err := s.host.scrape(ctx, s.mb.NewResource(rb.Emit(), ts), s.mb, now)
	if s.cgroups != nil {
		s.cgroups.scrape(ctx, s.mb, s.hostName, ts, now)
	}
	if s.gpu != nil {
		s.gpu.scrape(ctx, s.mb, now)
	}
	return s.mb.Emit(), err
}

func (s *gpuScraper) shutdown(context.Context) error {
	var errs []error
	if s.pods != nil {
		errs = append(errs, s.pods.Close())
		s.pods = nil
	}
	if s.gpu != nil {
		errs = append(errs, s.gpu.shutdown())
		s.gpu = nil
	}
	if s.cgroups != nil {
		s.cgroups.shutdown()
	}
	return errors.Join(errs...)
}
