// Package podresourcestest is a fake kubelet PodResources API for tests: a
// real gRPC server of k8s.io/kubelet's v1 PodResourcesLister on a unix
// socket in a temporary directory, with settable pods, a hang mode, an
// error mode and a count of List calls.
//
//	kubelet := podresourcestest.Start(t)
//	kubelet.SetPods(podresourcestest.Pod("ml", "train-0",
//		podresourcestest.Container("trainer",
//			podresourcestest.Devices("nvidia.com/gpu", "GPU-0a…", "GPU-1b…"))))
//	// point the code under test at kubelet.Socket()
//
// The server stops when the test ends (or at Stop), releasing hung calls.
package podresourcestest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// Server is a fake kubelet serving the PodResources API.
type Server struct {
	podresourcesv1.UnimplementedPodResourcesListerServer

	socket string
	grpc   *grpc.Server
	served chan struct{} // closed when Serve has returned
	stop   chan struct{} // closed by Stop: releases hung calls
	once   sync.Once
	calls  atomic.Int64

	mu   sync.Mutex
	pods []*podresourcesv1.PodResources
	err  error
	hang chan struct{} // non-nil: List waits for it to close
}

// Start serves the PodResources API on a new socket, kubelet.sock in a
// fresh temporary directory, until the test ends. The directory is short
// (unix socket paths are limited to about 100 bytes) and removed at the end.
func Start(t testing.TB) *Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "podres")
	if err != nil {
		t.Fatalf("podresourcestest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s, err := listen(filepath.Join(dir, "kubelet.sock"))
	if err != nil {
		t.Fatalf("podresourcestest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

func listen(socket string) (*Server, error) {
	l, err := net.Listen("unix", socket)
	if err != nil {
		return nil, err
	}
	s := &Server{
		socket: socket,
		grpc:   grpc.NewServer(),
		served: make(chan struct{}),
		stop:   make(chan struct{}),
	}
	podresourcesv1.RegisterPodResourcesListerServer(s.grpc, s)
	go func() {
		defer close(s.served)
		_ = s.grpc.Serve(l)
	}()
	return s, nil
}

// Socket is the absolute path of the server's unix socket.
func (s *Server) Socket() string { return s.socket }

// SetPods replaces the pods the server lists (copies are kept).
func (s *Server) SetPods(pods ...*podresourcesv1.PodResources) {
	cp := make([]*podresourcesv1.PodResources, len(pods))
	for i, p := range pods {
		cp[i] = proto.Clone(p).(*podresourcesv1.PodResources)
	}
	s.mu.Lock()
	s.pods = cp
	s.mu.Unlock()
}

// SetError makes List and Get fail with err (a gRPC status error keeps its
// code; any other error arrives as codes.Unknown); nil makes them answer
// again.
func (s *Server) SetError(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// Hang(true) makes List block until Hang(false), the caller gives up, or
// the server stops; Hang(false) releases the calls waiting.
func (s *Server) Hang(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case on && s.hang == nil:
		s.hang = make(chan struct{})
	case !on && s.hang != nil:
		close(s.hang)
		s.hang = nil
	}
}

// Calls is the number of List calls received so far, answered or not.
func (s *Server) Calls() int64 { return s.calls.Load() }

// Stop stops the server and removes its socket; calls in flight end. It is
// safe to call more than once; Start calls it when the test ends.
func (s *Server) Stop() {
	s.once.Do(func() {
		close(s.stop)
		s.grpc.Stop()
		<-s.served
		_ = os.Remove(s.socket) // the listener unlinks it; be sure
	})
}

// List implements PodResourcesListerServer.
func (s *Server) List(ctx context.Context, _ *podresourcesv1.ListPodResourcesRequest) (*podresourcesv1.ListPodResourcesResponse, error) {
	s.calls.Add(1)
	s.mu.Lock()
	hang := s.hang
	s.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-s.stop:
			return nil, status.Error(codes.Unavailable, "podresourcestest: stopped")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	return &podresourcesv1.ListPodResourcesResponse{PodResources: s.pods}, nil
}

// Get implements PodResourcesListerServer: the pod of that name and
// namespace, or NotFound as the kubelet answers.
func (s *Server) Get(_ context.Context, req *podresourcesv1.GetPodResourcesRequest) (*podresourcesv1.GetPodResourcesResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	for _, p := range s.pods {
		if p.GetName() == req.GetPodName() && p.GetNamespace() == req.GetPodNamespace() {
			return &podresourcesv1.GetPodResourcesResponse{PodResources: p}, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "pod %s in namespace %s not found", req.GetPodName(), req.GetPodNamespace())
}

// GetAllocatableResources implements PodResourcesListerServer minimally:
// the devices of all pods listed, one entry per container device group.
func (s *Server) GetAllocatableResources(context.Context, *podresourcesv1.AllocatableResourcesRequest) (*podresourcesv1.AllocatableResourcesResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	resp := &podresourcesv1.AllocatableResourcesResponse{}
	for _, p := range s.pods {
		for _, c := range p.GetContainers() {
			resp.Devices = append(resp.Devices, c.GetDevices()...)
		}
	}
	return resp, nil
}

// Pod builds a pod of the kubelet's answer.
func Pod(namespace, name string, containers ...*podresourcesv1.ContainerResources) *podresourcesv1.PodResources {
	return &podresourcesv1.PodResources{Namespace: namespace, Name: name, Containers: containers}
}

// Container builds a container holding devices.
func Container(name string, devices ...*podresourcesv1.ContainerDevices) *podresourcesv1.ContainerResources {
	return &podresourcesv1.ContainerResources{Name: name, Devices: devices}
}

// Devices builds the devices of one resource ("nvidia.com/gpu",
// "nvidia.com/mig-1g.10gb") allocated to a container.
func Devices(resource string, ids ...string) *podresourcesv1.ContainerDevices {
	return &podresourcesv1.ContainerDevices{ResourceName: resource, DeviceIds: ids}
}
