package podresourcestest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func dial(t *testing.T, s *Server) podresourcesv1.PodResourcesListerClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+s.Socket(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return podresourcesv1.NewPodResourcesListerClient(conn)
}

func TestServer(t *testing.T) {
	s := Start(t)
	c := dial(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	s.SetPods(
		Pod("ml", "a", Container("c", Devices("nvidia.com/gpu", "GPU-1", "GPU-2"))),
		Pod("ml", "b", Container("c", Devices("nvidia.com/mig-1g.10gb", "MIG-3"))),
	)
	l, err := c.List(ctx, &podresourcesv1.ListPodResourcesRequest{})
	require.NoError(t, err)
	require.Len(t, l.GetPodResources(), 2)
	assert.Equal(t, []string{"GPU-1", "GPU-2"}, l.GetPodResources()[0].GetContainers()[0].GetDevices()[0].GetDeviceIds())
	assert.EqualValues(t, 1, s.Calls())

	g, err := c.Get(ctx, &podresourcesv1.GetPodResourcesRequest{PodName: "b", PodNamespace: "ml"})
	require.NoError(t, err)
	assert.Equal(t, "b", g.GetPodResources().GetName())
	_, err = c.Get(ctx, &podresourcesv1.GetPodResourcesRequest{PodName: "x", PodNamespace: "ml"})
	assert.Equal(t, codes.NotFound, status.Code(err))

	a, err := c.GetAllocatableResources(ctx, &podresourcesv1.AllocatableResourcesRequest{})
	require.NoError(t, err)
	assert.Len(t, a.GetDevices(), 2)

	s.SetError(status.Error(codes.Internal, "boom"))
	_, err = c.List(ctx, &podresourcesv1.ListPodResourcesRequest{})
	assert.Equal(t, codes.Internal, status.Code(err))
	s.SetError(nil)

	// Hang: List blocks until released.
	s.Hang(true)
	done := make(chan error, 1)
	go func() {
		_, err := c.List(ctx, &podresourcesv1.ListPodResourcesRequest{})
		done <- err
	}()
	require.Eventually(t, func() bool { return s.Calls() == 3 }, 5*time.Second, time.Millisecond)
	select {
	case <-done:
		t.Fatal("List returned while hanging")
	case <-time.After(20 * time.Millisecond):
	}
	s.Hang(false)
	require.NoError(t, <-done)
}

func TestStopReleasesHungCalls(t *testing.T) {
	s := Start(t)
	c := dial(t, s)
	s.Hang(true)
	done := make(chan error, 1)
	go func() {
		_, err := c.List(context.Background(), &podresourcesv1.ListPodResourcesRequest{})
		done <- err
	}()
	require.Eventually(t, func() bool { return s.Calls() == 1 }, 5*time.Second, time.Millisecond)
	s.Stop()
	assert.Error(t, <-done)
	assert.NoFileExists(t, s.Socket())
	s.Stop() // idempotent
}
