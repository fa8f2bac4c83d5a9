//go:build cgo

package gpureceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/podresources/podresourcestest"
	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/metadata"
)

func strSlice(v pcommon.Value) []string {
	out := []string{}
	for _, e := range v.Slice().All() {
		out = append(out, e.Str())
	}
	return out
}

// podsByDevice reads what a scrape says about pods: each device's
// otelcol.gpu.pods (nil when absent) and the host's otelcol.kubelet.pods.
func podsByDevice(md pmetric.Metrics) (devices map[string][]string, node []string) {
	devices = map[string][]string{}
	for _, rm := range md.ResourceMetrics().All() {
		attrs := rm.Resource().Attributes()
		id, isDevice := attrs.Get("hw.id")
		if !isDevice {
			if v, ok := attrs.Get(metadata.ResAttrOtelcolKubeletPods); ok {
				node = strSlice(v)
			}
			continue
		}
		if v, ok := attrs.Get(metadata.ResAttrOtelcolGpuPods); ok {
			devices[id.Str()] = strSlice(v)
		} else {
			devices[id.Str()] = nil
		}
	}
	return devices, node
}

func TestScraperNamesThePodsOfEachGPU(t *testing.T) {
	kubelet := podresourcestest.Start(t)
	kubelet.SetPods(
		podresourcestest.Pod("ml", "trainer-a", podresourcestest.Container("main",
			podresourcestest.Devices("nvidia.com/gpu", "GPU-00000000-0000-0000-0000-000000000002", "GPU-00000000-0000-0000-0000-000000000003"))),
		podresourcestest.Pod("ml", "notebook", podresourcestest.Container("main",
			podresourcestest.Devices("nvidia.com/mig-1g.10gb", "MIG-00000000-0000-0000-0000-000000000050"))),
		podresourcestest.Pod("ml", "shared-1", podresourcestest.Container("c", podresourcestest.Devices("nvidia.com/gpu", "GPU-00000000-0000-0000-0000-000000000005::0"))),
		podresourcestest.Pod("ml", "shared-2", podresourcestest.Container("c", podresourcestest.Devices("nvidia.com/gpu", "GPU-00000000-0000-0000-0000-000000000005::1"))),
		podresourcestest.Pod("kube-system", "dns", podresourcestest.Container("dns")),
	)
	clock := testStart
	cfg := createDefaultConfig().(*Config)
	cfg.PodResourcesSocket = kubelet.Socket()
	s, _ := newMockScraper(cfg, &clock)
	(&fakeHost{}).install(s.host)
	require.NoError(t, s.start(context.Background(), nil))
	t.Cleanup(func() { require.NoError(t, s.shutdown(context.Background())) })
	require.Eventually(t, func() bool { snap, _ := s.pods.Peek(); return snap != nil }, 5*time.Second, 5*time.Millisecond)

	clock = clock.Add(10 * time.Second)
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	devices, node := podsByDevice(md)
	assert.Equal(t, []string{"kube-system/dns", "ml/notebook", "ml/shared-1", "ml/shared-2", "ml/trainer-a"}, node)
	assert.Equal(t, []string{"ml/trainer-a"}, devices["GPU-00000000-0000-0000-0000-000000000002"])
	assert.Equal(t, []string{"ml/trainer-a"}, devices["GPU-00000000-0000-0000-0000-000000000003"])
	assert.ElementsMatch(t, []string{"ml/shared-1", "ml/shared-2"}, devices["GPU-00000000-0000-0000-0000-000000000005"], "time-sliced: both pods")
	assert.Equal(t, []string{"ml/notebook"}, devices["MIG-00000000-0000-0000-0000-000000000050"], "a MIG instance names its own pod")
	assert.Equal(t, []string{}, devices["GPU-00000000-0000-0000-0000-000000000000"], "known, and held by no pod")
}

// No socket, or a kubelet that hangs: the scrape does not wait, says
// nothing about pods it does not know (the exporter then finds runs' GPUs
// another way), and host and GPU metrics carry on.
func TestScraperWithoutKubeletAnswer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*podresourcestest.Server)
	}{
		{"no socket", func(s *podresourcestest.Server) { s.Stop() }},
		{"hangs", func(s *podresourcestest.Server) { s.Hang(true) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kubelet := podresourcestest.Start(t)
			tc.setup(kubelet)
			clock := testStart
			cfg := createDefaultConfig().(*Config)
			cfg.PodResourcesSocket = kubelet.Socket()
			s, _ := newMockScraper(cfg, &clock)
			(&fakeHost{}).install(s.host)
			require.NoError(t, s.start(context.Background(), nil))
			for range 3 {
				clock = clock.Add(10 * time.Second)
				start := time.Now()
				md, err := s.scrape(context.Background())
				require.NoError(t, err)
				assert.Less(t, time.Since(start), 500*time.Millisecond, "a scrape never waits for the kubelet")
				devices, node := podsByDevice(md)
				assert.Nil(t, node)
				assert.Len(t, devices, 10, "8 GPUs and 2 MIG instances still reported")
				for id, pods := range devices {
					assert.Nil(t, pods, "%s: no pod list without an answer", id)
				}
			}
			require.NoError(t, s.shutdown(context.Background()))
		})
	}
}
