package podresources

import (
	"fmt"
	"testing"

	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	prt "github.com/otelcol-mlflow/otelcol-mlflow/internal/podresources/podresourcestest"
)

// benchNode is the budget case: 50 pods with 8 GPUs each (8
// physical GPUs time-sliced 50 ways, the most devices a lookup can meet on
// an 8-GPU node short of more replicas), plus a CPU-only container each.
func benchNode() []*podresourcesv1.PodResources {
	pods := make([]*podresourcesv1.PodResources, 50)
	for p := range pods {
		ids := make([]string, 8)
		for g := range ids {
			ids[g] = fmt.Sprintf("GPU-%08x-0000-0000-0000-%012x::%d", g, g, p)
		}
		pods[p] = prt.Pod("ml", fmt.Sprintf("run-%d", p),
			prt.Container("trainer", prt.Devices("nvidia.com/gpu", ids...)),
			prt.Container("sidecar"))
	}
	return pods
}

// BenchmarkLookup is the per-scrape cost with a fresh cached answer: one
// List (cached) and the GPUs of every one of the 50 pods, as a scrape that
// serves 50 runs does.
func BenchmarkLookup(b *testing.B) {
	kubelet := prt.Start(b)
	kubelet.SetPods(benchNode()...)
	c, _ := newClient(b, kubelet.Socket())
	ctx := ctx(b)
	if _, err := c.List(ctx); err != nil {
		b.Fatal(err)
	}
	names := make([]string, 50)
	for i := range names {
		names[i] = fmt.Sprintf("run-%d", i)
	}
	b.ReportAllocs()
	for b.Loop() {
		snap, err := c.List(ctx)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, name := range names {
			p, err := snap.Pod("ml", name)
			if err != nil {
				b.Fatal(err)
			}
			n += len(p.GPUs())
		}
		if n != 400 {
			b.Fatalf("%d devices", n)
		}
	}
}

// BenchmarkList is one refresh through the fake kubelet: the gRPC call on
// the unix socket and indexing 50 pods x 8 GPUs.
func BenchmarkList(b *testing.B) {
	kubelet := prt.Start(b)
	kubelet.SetPods(benchNode()...)
	c, clk := newClient(b, kubelet.Socket())
	ctx := ctx(b)
	b.ReportAllocs()
	for b.Loop() {
		clk.Add(DefaultTTL)
		snap, err := c.List(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if snap.Pods() != 50 {
			b.Fatal(snap.Pods())
		}
	}
}
