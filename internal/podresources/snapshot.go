package podresources

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// PodRef names a pod.
type PodRef struct {
	Namespace string
	Name      string
}

func (r PodRef) String() string { return r.Namespace + "/" + r.Name }

// Device is one GPU, or one MIG instance, allocated to a container.
type Device struct {
	// Resource is the extended resource it was allocated as:
	// "nvidia.com/gpu", "nvidia.com/gpu.shared", "nvidia.com/mig-1g.10gb".
	Resource string
	// ID is the device id the device plugin gave the kubelet, without a
	// time-slicing/MPS replica suffix ("::N"). NVIDIA's device plugin uses
	// the GPU UUID ("GPU-…") or MIG device UUID ("MIG-…"); other plugins may
	// use other names (see UUID).
	ID string
	// Shared: the id carried a replica suffix, so the GPU is time-sliced
	// (or shared through MPS) and other pods may hold the same ID.
	Shared bool
}

// UUID is ID when it is an NVIDIA GPU or MIG UUID ("GPU-…", "MIG-…", any
// case), and "" otherwise.
func (d Device) UUID() string {
	if hasPrefixFold(d.ID, "GPU-") || hasPrefixFold(d.ID, "MIG-") {
		return d.ID
	}
	return ""
}

// Container is one container of a pod and the GPUs allocated to it.
type Container struct {
	Name    string
	Devices []Device
}

// Pod is one pod of the kubelet's answer and the GPUs allocated to its
// containers.
type Pod struct {
	PodRef
	// Containers holds every container the kubelet listed, with or without
	// GPUs, in the kubelet's order.
	Containers []Container
	gpus       []Device
}

// GPUs are the devices of all the pod's containers, each ID once, in
// container order. The slice is shared: do not modify it.
func (p *Pod) GPUs() []Device { return p.gpus }

// Container returns the devices of the named container; ok is false when
// the pod has no such container.
func (p *Pod) Container(name string) (devices []Device, ok bool) {
	for i := range p.Containers {
		if p.Containers[i].Name == name {
			return p.Containers[i].Devices, true
		}
	}
	return nil, false
}

// Snapshot is one answer of the kubelet, indexed for lookups. It is
// immutable and safe for concurrent use.
type Snapshot struct {
	// Taken is when the kubelet answered.
	Taken time.Time

	pods    map[PodRef]*Pod
	uids    map[string]PodRef
	holders map[string][]PodRef
}

// Pod returns the pod of that namespace and name, or an error wrapping
// ErrPodNotFound.
func (s *Snapshot) Pod(namespace, name string) (*Pod, error) {
	if p, ok := s.pods[PodRef{namespace, name}]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("podresources: %s/%s: %w", namespace, name, ErrPodNotFound)
}

// PodByUID returns the pod of that UID. The kubelet's answer has no UIDs;
// the mapping comes from the pod log directories (WithPodLogsDir), read
// with the same refresh. Without it, or for a UID that has no directory
// there, the error wraps ErrUIDUnresolved; for a UID that maps to a pod the
// kubelet did not list, ErrPodNotFound.
func (s *Snapshot) PodByUID(uid string) (*Pod, error) {
	ref, ok := s.uids[uid]
	if !ok {
		return nil, fmt.Errorf("podresources: pod uid %s: %w", uid, ErrUIDUnresolved)
	}
	return s.Pod(ref.Namespace, ref.Name)
}

// Pods returns the number of pods in the answer.
func (s *Snapshot) Pods() int { return len(s.pods) }

// Names lists every pod of the answer as "namespace/name", sorted.
func (s *Snapshot) Names() []string {
	out := make([]string, 0, len(s.pods))
	for _, p := range s.pods {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return out
}

// Holders lists the pods that hold the device ID (replica suffix removed),
// in no particular order. More than one: the GPU is time-sliced or shared
// through MPS, and its metrics belong to all of them.
func (s *Snapshot) Holders(id string) []PodRef { return s.holders[id] }

// IsGPUResource says whether a resource name is one of NVIDIA's device
// plugin: "nvidia.com/gpu", its renamed shared form "nvidia.com/gpu.shared",
// and MIG profiles under the mixed strategy, "nvidia.com/mig-<profile>"
// (with the single strategy, MIG devices are "nvidia.com/gpu" too).
func IsGPUResource(name string) bool {
	return name == "nvidia.com/gpu" ||
		strings.HasPrefix(name, "nvidia.com/gpu.") ||
		strings.HasPrefix(name, "nvidia.com/mig-")
}

// newSnapshot indexes a List answer. uids maps pod UIDs to pods (may be
// nil).
func newSnapshot(resp *podresourcesv1.ListPodResourcesResponse, uids map[string]PodRef, taken time.Time) *Snapshot {
	s := &Snapshot{
		Taken:   taken,
		pods:    make(map[PodRef]*Pod, len(resp.GetPodResources())),
		uids:    uids,
		holders: map[string][]PodRef{},
	}
	for _, pr := range resp.GetPodResources() {
		ref := PodRef{pr.GetNamespace(), pr.GetName()}
		p := s.pods[ref]
		if p == nil {
			p = &Pod{PodRef: ref}
			s.pods[ref] = p
		}
		for _, cr := range pr.GetContainers() {
			c := Container{Name: cr.GetName()}
			for _, cd := range cr.GetDevices() {
				res := cd.GetResourceName()
				if !IsGPUResource(res) {
					continue
				}
				for _, raw := range cd.GetDeviceIds() {
					id, shared := splitReplica(raw)
					if id == "" {
						continue
					}
					d := Device{Resource: res, ID: id, Shared: shared}
					c.Devices = append(c.Devices, d)
					if !hasDevice(p.gpus, id) {
						p.gpus = append(p.gpus, d)
						s.holders[id] = append(s.holders[id], ref)
					}
				}
			}
			p.Containers = append(p.Containers, c)
		}
	}
	return s
}

// splitReplica removes the "::N" suffix NVIDIA's device plugin appends to
// the ids of time-sliced and MPS-shared GPUs.
func splitReplica(id string) (string, bool) {
	if i := strings.Index(id, "::"); i >= 0 {
		return id[:i], true
	}
	return id, false
}

func hasDevice(ds []Device, id string) bool {
	for _, d := range ds {
		if d.ID == id {
			return true
		}
	}
	return false
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// readPodLogDirs maps pod UIDs to pods from the kubelet's pod log
// directories, <dir>/<namespace>_<name>_<uid>. Namespaces and pod names are
// DNS labels/subdomains and UIDs are UUIDs, so none holds "_" and a name
// splits in exactly three parts; other entries are skipped.
func readPodLogDirs(dir string) (map[string]PodRef, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	m := make(map[string]PodRef, len(entries))
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		parts := strings.Split(e.Name(), "_")
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			continue
		}
		m[parts[2]] = PodRef{Namespace: parts[0], Name: parts[1]}
	}
	return m, nil
}
