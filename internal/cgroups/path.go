package cgroups

import (
	"strings"
)

// Names is what a cgroup path names. Each is the innermost one on the path
// (a Kubernetes node in a container, as kind runs it, nests pods in a
// container: the inner pod is the process's).
type Names struct {
	// PodUID is the Kubernetes pod UID in its dashed form
	// ("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"), or the 32 hex digits the
	// kubelet gives a static pod; "" outside a pod.
	PodUID string
	// QOSClass is the pod's QoS class as its cgroup says: "guaranteed",
	// "burstable" or "besteffort"; "" outside a pod.
	QOSClass string
	// PodPath is the pod's cgroup: the path up to the pod's element.
	PodPath string

	// ContainerID is the container's id, 64 lower-case hex digits; ""
	// outside a container.
	ContainerID string
	// ContainerRuntime is "docker", "containerd", "crio" or "podman" when
	// the path says which; "" for a bare id (cgroupfs driver).
	ContainerRuntime string
	// ContainerPath is the container's cgroup: the path up to the element
	// that names it (podman puts the processes one level below, in
	// libpod-<id>.scope/container).
	ContainerPath string

	// SlurmJobID is the Slurm job's id (digits); "" outside a job.
	SlurmJobID string
	// SlurmStep is the step within the job ("0", "1", "batch", "extern",
	// "interactive"); "" when the path ends at the job.
	SlurmStep string
	// SlurmJobPath is the job's cgroup: the path up to job_<id>. Its
	// processes, all steps together, are Procs(root, SlurmJobPath).
	SlurmJobPath string
}

// Named reports whether the path names a pod, a container or a Slurm job.
func (n *Names) Named() bool {
	return n.PodUID != "" || n.ContainerID != "" || n.SlurmJobID != ""
}

// ParsePath returns what a cgroup path names (see the package doc for the
// layouts). It reads nothing; any path is accepted, and one that names
// nothing gives the zero Names.
func ParsePath(path string) Names {
	var n Names
	var kubepods, slurm bool
	var parent string // the previous element
	inJob := false    // the previous element was job_<id>
	end := 0
	for end < len(path) {
		start := end
		if path[start] == '/' {
			start++
		}
		end = start + strings.IndexByte(path[start:], '/')
		if end < start {
			end = len(path)
		}
		elem := path[start:end]
		if elem == "" {
			continue
		}
		prefix := path[:end]
		// A systemd slice holding a cgroupfs-style name, as containerd
		// writes them under cgroup v1 with the systemd driver:
		// "kubepods-burstable-pod<uid>.slice:cri-containerd:<id>".
		unit, _, _ := strings.Cut(elem, ":")

		if strings.Contains(unit, "kubepods") {
			kubepods = true
			if uid, qos, ok := systemdPod(unit); ok {
				n.PodUID, n.QOSClass, n.PodPath = uid, qos, prefix
			}
		} else if kubepods && strings.HasPrefix(elem, "pod") {
			if uid, ok := podUID(elem[len("pod"):], false); ok {
				n.PodUID, n.PodPath = uid, prefix
				switch parent {
				case "burstable", "besteffort":
					n.QOSClass = parent
				default:
					n.QOSClass = "guaranteed"
				}
			}
		}

		if id, runtime, ok := containerID(elem, parent); ok {
			n.ContainerID, n.ContainerRuntime, n.ContainerPath = id, runtime, prefix
		}

		if strings.Contains(elem, "slurm") {
			slurm = true
		}
		switch {
		case slurm && strings.HasPrefix(elem, "job_") && isDigits(elem[len("job_"):]):
			n.SlurmJobID, n.SlurmStep, n.SlurmJobPath = elem[len("job_"):], "", prefix
			inJob = true
		case inJob && strings.HasPrefix(elem, "step_") && len(elem) > len("step_"):
			n.SlurmStep = elem[len("step_"):]
			inJob = false
		default:
			inJob = false
		}
		parent = elem
	}
	return n
}

// systemdPod reads a pod slice of the kubelet's systemd driver,
// "kubepods-pod<uid>.slice" (guaranteed), "kubepods-burstable-pod<uid>.slice"
// and "kubepods-besteffort-pod<uid>.slice", the uid's dashes written as
// underscores (a dash is systemd's slice separator).
func systemdPod(unit string) (uid, qos string, ok bool) {
	name, ok := strings.CutSuffix(unit, ".slice")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndex(name, "-pod")
	if i < 0 {
		return "", "", false
	}
	if uid, ok = podUID(name[i+len("-pod"):], true); !ok {
		return "", "", false
	}
	switch class := name[:i]; {
	case strings.HasSuffix(class, "-burstable"):
		qos = "burstable"
	case strings.HasSuffix(class, "-besteffort"):
		qos = "besteffort"
	default:
		qos = "guaranteed"
	}
	return uid, qos, true
}

// podUID normalises a pod UID from a cgroup element: a UUID (with
// underscores for dashes when underscored) in lower case, or the 32 hex
// digits of a static pod's UID.
func podUID(s string, underscored bool) (string, bool) {
	switch len(s) {
	case 32:
		if isHex(s, true) {
			return strings.ToLower(s), true
		}
	case 36:
		sep := byte('-')
		if underscored {
			sep = '_'
		}
		b := []byte(s)
		for i, c := range b {
			switch i {
			case 8, 13, 18, 23:
				if c != sep {
					return "", false
				}
				b[i] = '-'
			default:
				if !isHexDigit(c, true) {
					return "", false
				}
				if 'A' <= c && c <= 'F' {
					b[i] = c + ('a' - 'A')
				}
			}
		}
		return string(b), true
	}
	return "", false
}

// containerID reads a container's element: a systemd scope
// (docker-<id>.scope, cri-containerd-<id>.scope, crio-<id>.scope,
// libpod-<id>.scope), a containerd name under a systemd slice
// ("<slice>:cri-containerd:<id>"),
// or a bare id (cgroupfs: /docker/<id>, /kubepods/burstable/pod<uid>/<id>).
// CRI-O's "crio-conmon-<id>.scope" is the container's monitor, not the
// container.
func containerID(elem, parent string) (id, runtime string, ok bool) {
	name := strings.TrimSuffix(elem, ".scope")
	kind := parent
	id = name
	if i := strings.LastIndexAny(name, "-:"); i >= 0 {
		kind, id = name[:i], name[i+1:]
	}
	if !isHex(id, false) || len(id) != 64 || strings.Contains(kind, "conmon") {
		return "", "", false
	}
	switch {
	case strings.Contains(kind, "containerd"):
		runtime = "containerd"
	case strings.Contains(kind, "crio"):
		runtime = "crio"
	case strings.Contains(kind, "libpod"):
		runtime = "podman"
	case strings.Contains(kind, "docker"):
		runtime = "docker"
	}
	return id, runtime, true
}

func isHexDigit(c byte, upper bool) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || upper && 'A' <= c && c <= 'F'
}

func isHex(s string, upper bool) bool {
	for i := range len(s) {
		if !isHexDigit(s[i], upper) {
			return false
		}
	}
	return s != ""
}

func isDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
