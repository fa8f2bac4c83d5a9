package mlflowexporter

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Lanes of tenants without a sending queue of their own.
const (
	laneOthers    = "*" // tenants matched only by access.tenants["*"]
	laneAnonymous = ""  // data no tenant source names
)

// tenantLanes gives each tenant named in access.tenants a sending queue
// (and batcher and consumers) of its own, and the other tenants and
// anonymous data one each. exporterhelper's queue is first in, first out:
// with one queue, a tenant whose data outruns the backend's budget would
// put its whole backlog ahead of every other tenant's next point. With a
// queue per lane, each lane's consumers wait for the budget on their own,
// and the rate limiter shares the budget between the waiting tenants by
// weight (restclient.WithFlow), so a quiet tenant's data waits for its
// flush and one slot, not for the noisy tenant's backlog. Each lane's
// queue_size is its weight's share of the configured one; with a
// persistent queue each lane stores under its own id
// (<exporter id>_lane_<tenant>), so the lanes survive a restart.
type tenantLanes struct {
	cfg     *AccessConfig
	senders map[string]exporter.Metrics
	names   []string // start order
	start   func(context.Context, component.Host) error
	stop    func(context.Context) error
}

func laneOf(a *AccessConfig, tenant string) string {
	if tenant == "" {
		return laneAnonymous
	}
	if _, named := a.Tenants[tenant]; named && tenant != laneOthers {
		return tenant
	}
	return laneOthers
}

// laneNames lists the lanes a config has: every named tenant, then the
// others and anonymous data.
func laneNames(a *AccessConfig) []string {
	var names []string
	for t := range a.Tenants {
		if t != laneOthers {
			names = append(names, t)
		}
	}
	slices.Sort(names)
	return append(names, laneOthers, laneAnonymous)
}

// laneID is a lane's component id: the storage extension names its files
// after it, so it must be stable and use only safe characters.
func laneID(id component.ID, lane string) component.ID {
	var b strings.Builder
	for _, r := range lane {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	safe := b.String()
	switch lane {
	case laneOthers:
		safe = "others"
	case laneAnonymous:
		safe = "anonymous"
	default:
		// Two tenants that differ only in unsafe characters stay apart.
		h := fnv.New32a()
		h.Write([]byte(lane))
		safe = fmt.Sprintf("t_%s_%08x", safe, h.Sum32())
	}
	name := "lane_" + safe
	if id.Name() != "" {
		name = id.Name() + "_" + name
	}
	return component.NewIDWithName(id.Type(), name)
}

// pipeline makes one lane's sender (factory.go).
type pipeline func(exporter.Settings, configoptional.Optional[exporterhelper.QueueBatchConfig]) (exporter.Metrics, error)

func newTenantLanes(set exporter.Settings, c *Config, queue configoptional.Optional[exporterhelper.QueueBatchConfig], e *mlflowExporter, newLane pipeline) (*tenantLanes, error) {
	l := &tenantLanes{cfg: &c.Access, senders: map[string]exporter.Metrics{}, start: e.start, stop: e.shutdown}
	names := laneNames(&c.Access)
	total := 0.0
	for _, n := range names {
		total += laneWeight(&c.Access, n)
	}
	for _, n := range names {
		q := *queue.Get()
		share := laneWeight(&c.Access, n) / total
		q.QueueSize = max(int64(float64(q.QueueSize)*share), 1000)
		laneSet := set
		laneSet.ID = laneID(set.ID, n)
		sender, err := newLane(laneSet, configoptional.Some(q))
		if err != nil {
			return nil, fmt.Errorf("sending queue of tenant lane %q: %w", n, err)
		}
		l.senders[n] = sender
		l.names = append(l.names, n)
	}
	return l, nil
}

// laneWeight is a lane's share of the queue: its tenant's weight, or for
// the unnamed tenants' lane weights["*"].
func laneWeight(a *AccessConfig, lane string) float64 {
	if lane != laneOthers {
		return a.weightOf(lane)
	}
	if w, ok := a.Weights["*"]; ok {
		return w
	}
	return 1
}

func (l *tenantLanes) Start(ctx context.Context, host component.Host) error {
	if err := l.start(ctx, host); err != nil {
		return err
	}
	for _, n := range l.names {
		if err := l.senders[n].Start(ctx, host); err != nil {
			return fmt.Errorf("start sending queue of tenant lane %q: %w", n, err)
		}
	}
	return nil
}

// Shutdown drains every lane before the exporter itself stops.
func (l *tenantLanes) Shutdown(ctx context.Context) error {
	var errs []error
	for _, n := range l.names {
		errs = append(errs, l.senders[n].Shutdown(ctx))
	}
	errs = append(errs, l.stop(ctx))
	return errors.Join(errs...)
}

// split hands each lane the resources of its tenants (TenantAttr, already
// stamped). md is owned by the caller and emptied.
func (l *tenantLanes) split(md pmetric.Metrics) map[string]pmetric.Metrics {
	parts := map[string]pmetric.Metrics{}
	md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		tenant := ""
		if v, ok := rm.Resource().Attributes().Get(TenantAttr); ok {
			tenant = v.Str()
		}
		lane := laneOf(l.cfg, tenant)
		part, ok := parts[lane]
		if !ok {
			part = pmetric.NewMetrics()
			parts[lane] = part
		}
		rm.MoveTo(part.ResourceMetrics().AppendEmpty())
		return true
	})
	return parts
}
