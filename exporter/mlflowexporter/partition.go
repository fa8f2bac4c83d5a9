package mlflowexporter

import (
	"context"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/translate"
)

// runPartitionKey is the client metadata key that carries a request's run
// through the sending queue. The default batch config partitions on it
// (sending_queue.batch.partition.metadata_keys), so every batch holds one
// run's data and becomes full log-batch requests instead of one small
// request per run per flush.
//
// Why this keeps durability: the queue (persistent with file_storage)
// releases a request only when the batch that holds it was exported, and
// the persistent queue stores client metadata with each request, so the
// partitions survive a restart. Under a log-batch budget the queue does
// not batch: each run's request goes on into the run spool (spooled.go),
// which stores it before the queue lets go and holds it until the run fills
// one request or coalesce.max_delay passes; otherwise each run's batch is
// written after flush_timeout.
// docs/reliability.md.
const runPartitionKey = "otelcol-mlflow-run"

// runAttributes are the resource attributes that decide a resource's run
// (translate.Identity) or, for host telemetry, its host.
var runAttributes = []string{
	translate.AttrRunID, translate.AttrExperimentID, translate.AttrExperimentName,
	translate.AttrRunName, translate.AttrServiceName, translate.AttrParentRunID,
	translate.AttrParentRunName, translate.AttrHostName,
}

// partitionOf names the partition of a resource: equal for every resource
// of one run. It need not be the run key itself (defaults from the config
// are applied later, when translating); over-splitting only costs a
// smaller batch.
func partitionOf(attrs pcommon.Map) string {
	var b strings.Builder
	for _, k := range runAttributes {
		if v, ok := attrs.Get(k); ok {
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(v.AsString())
		}
		b.WriteByte(0)
	}
	return b.String()
}

// runPartitioner puts each run's resources into the sending queue as a
// request of its own, tagged with its partition in the client metadata.
// With access control it also stamps each resource with its tenant
// (TenantAttr) while the receiver's authentication is still in the
// context: the queue keeps the data, not the connection it came on.
type runPartitioner struct {
	exporter.Metrics // the one sender; nil with lanes
	partition        bool
	access           *AccessConfig
	tel              *metadata.TelemetryBuilder
	// lanes, with access control and a sending queue: a sender per tenant
	// lane (lanes.go).
	lanes *tenantLanes
}

func (p runPartitioner) Start(ctx context.Context, host component.Host) error {
	if p.lanes != nil {
		return p.lanes.Start(ctx, host)
	}
	return p.Metrics.Start(ctx, host)
}

func (p runPartitioner) Shutdown(ctx context.Context) error {
	if p.lanes != nil {
		return p.lanes.Shutdown(ctx)
	}
	return p.Metrics.Shutdown(ctx)
}

func (p runPartitioner) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (p runPartitioner) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	owned := false // md is our own copy, not the pipeline's shared data
	if p.access != nil && p.access.enabled() {
		md, owned = p.stampTenants(ctx, md), true
	}
	if p.lanes == nil {
		return p.partitionInto(ctx, p.Metrics, md, owned)
	}
	parts := p.lanes.split(md)
	for _, lane := range p.lanes.names {
		if part, ok := parts[lane]; ok {
			if err := p.partitionInto(ctx, p.lanes.senders[lane], part, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// partitionInto sends md to next, one request per run partition when the
// queue batches by run. owned says md may be taken apart.
func (p runPartitioner) partitionInto(ctx context.Context, next consumer.Metrics, md pmetric.Metrics, owned bool) error {
	rms := md.ResourceMetrics()
	if rms.Len() == 0 || !p.partition {
		return next.ConsumeMetrics(ctx, md)
	}
	keys := make([]string, rms.Len())
	var order []string
	for i := range rms.Len() {
		attrs := rms.At(i).Resource().Attributes()
		keys[i] = partitionOf(attrs)
		if t, ok := attrs.Get(TenantAttr); ok {
			keys[i] += "\x00" + t.Str()
		}
		if !slices.Contains(order, keys[i]) {
			order = append(order, keys[i])
		}
	}
	if len(order) == 1 {
		return next.ConsumeMetrics(withPartition(ctx, order[0]), md)
	}
	for _, key := range order {
		part := pmetric.NewMetrics()
		for i := range rms.Len() {
			if keys[i] != key {
				continue
			}
			if owned {
				rms.At(i).MoveTo(part.ResourceMetrics().AppendEmpty())
			} else {
				// Shared with the pipeline's other consumers: copy.
				rms.At(i).CopyTo(part.ResourceMetrics().AppendEmpty())
			}
		}
		// A refusal (queue full) is returned at once: the sender retries the
		// whole request, and the parts already queued are written once
		// (re-sent points are recognised, docs/mapping.md §2).
		if err := next.ConsumeMetrics(withPartition(ctx, key), part); err != nil {
			return err
		}
	}
	return nil
}

// stampTenants returns a copy of md whose resources carry their tenant in
// TenantAttr (and only the configured sources' word for it).
func (p runPartitioner) stampTenants(ctx context.Context, md pmetric.Metrics) pmetric.Metrics {
	out := pmetric.NewMetrics()
	md.CopyTo(out)
	info := client.FromContext(ctx)
	rms := out.ResourceMetrics()
	accepted := map[string]int{}
	for i := range rms.Len() {
		attrs := rms.At(i).Resource().Attributes()
		attrs.Remove(TenantAttr)
		t := p.access.tenantOf(info, attrs)
		if t != "" {
			attrs.PutStr(TenantAttr, t)
		}
		accepted[t] += translate.ResourcePointCount(rms.At(i))
	}
	if p.tel != nil {
		for t, n := range accepted {
			p.tel.ExporterMlflowTenantPoints.Add(ctx, int64(n), metadata.WithTenantOutcome(t, metadata.AttributeTenantOutcomeAccepted))
		}
	}
	return out
}

func withPartition(ctx context.Context, key string) context.Context {
	info := client.FromContext(ctx)
	md := map[string][]string{runPartitionKey: {key}}
	for k := range info.Metadata.Keys() {
		if !strings.EqualFold(k, runPartitionKey) {
			md[k] = info.Metadata.Get(k)
		}
	}
	info.Metadata = client.NewMetadata(md)
	return client.NewContext(ctx, info)
}
