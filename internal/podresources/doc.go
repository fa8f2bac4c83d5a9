// Package podresources finds the GPUs the kubelet allocated to a pod, from
// the kubelet's PodResources API, so that a run on a shared GPU node gets
// the metrics of its own GPUs only. It is the first of the ways a run's GPUs
// are found (issue "Shared GPU nodes: each run gets its own GPUs' metrics");
// when it cannot answer, the caller falls back to the next way.
//
// # What it does
//
// A Client calls v1.PodResourcesLister/List (module k8s.io/kubelet) on the
// kubelet's unix socket, at most once per TTL (default 5 s), each call
// bounded by a timeout (default 1 s); concurrent callers share the one call
// in flight. The answer is a Snapshot, indexed once, so a lookup is a map
// access: the GPUs of a pod by namespace and name (Snapshot.Pod), of one of
// its containers (Pod.Container), and the pods that hold a GPU
// (Snapshot.Holders). Of a container's devices it keeps those of NVIDIA's
// device plugin resources, "nvidia.com/gpu", "nvidia.com/gpu.shared" and
// "nvidia.com/mig-<profile>" (IsGPUResource); their device ids are GPU
// UUIDs ("GPU-…") and MIG device UUIDs ("MIG-…").
//
// List waits for a due refresh (up to the timeout or the caller's context);
// Peek never waits and refreshes in the background. A failed refresh keeps
// the last good answer and is retried after the TTL (see Client.List).
// Errors wrap one of ErrNoSocket, ErrTimeout, ErrUnavailable, ErrKubelet,
// ErrPodNotFound, ErrUIDUnresolved, ErrNoAnswerYet and ErrClosed, for
// errors.Is.
//
// # What the kubelet must expose
//
// The kubelet serves the PodResources API on
// /var/lib/kubelet/pod-resources/kubelet.sock (DefaultSocket); List and
// GetAllocatableResources are generally available since Kubernetes 1.28.
// The collector's DaemonSet mounts the directory
// /var/lib/kubelet/pod-resources read-only (the directory, not the socket
// file, as the Kubernetes documentation advises: the kubelet recreates the
// socket when it restarts, and a mounted socket file would go stale), and
// runs with permission to connect to the socket. Off Kubernetes, or without
// the mount, List fails with ErrNoSocket and the caller falls back.
//
// # Pods named by UID
//
// A run names its pod by k8s.pod.uid, or by k8s.pod.name and
// k8s.namespace.name, as the downward API puts them into
// OTEL_RESOURCE_ATTRIBUTES. The v1 PodResources answer carries namespace and
// name, not the pod UID, so this package serves name plus namespace; the
// kubelet has no supported API on all current versions that maps a UID to
// them (the kubelet Pods API that does, /var/lib/kubelet/pods-api, is beta
// since 1.37 only). Two ways are left:
//
//   - The cgroup mechanism (the next way in the fallback list) matches
//     k8s.pod.uid alone: cgroup paths carry pod UIDs. A run that names only
//     its UID is served there, not here, unless:
//   - WithPodLogsDir: each refresh also reads the kubelet's pod log
//     directories, <podLogsDir>/<namespace>_<name>_<uid> (podLogsDir is
//     /var/log/pods unless the kubelet configuration says otherwise), and
//     Snapshot.PodByUID maps a UID through them. This is the kubelet's file
//     layout, not an API: stable for years and what log collectors parse
//     (OpenTelemetry's filelog container parser among them), but it needs
//     /var/log/pods mounted too, and a directory can outlive its pod a
//     little (then PodByUID says ErrPodNotFound, since the kubelet's answer
//     is what says which pods are on the node). Without it, PodByUID fails
//     with ErrUIDUnresolved.
//
// Runs should therefore put k8s.pod.name and k8s.namespace.name into their
// resource (both come from the downward API), with k8s.pod.uid as well.
//
// # Limits
//
//   - Time-sliced and MPS-shared GPUs: NVIDIA's device plugin gives each
//     replica an id "<UUID>::<n>"; the suffix is removed (Device.Shared says
//     it was there), so the same UUID appears in several pods, and the
//     GPU's metrics belong to all of them (Snapshot.Holders), not split.
//   - MIG: device ids are MIG device UUIDs, under "nvidia.com/mig-<profile>"
//     (mixed strategy) or "nvidia.com/gpu" (single strategy); the caller
//     matches them to MIG instances, not to the parent GPU's UUID.
//   - Device plugins that do not name devices by UUID (GKE's names them
//     "nvidia0", …) give ids Device.UUID reports as "".
//   - GPUs allocated through dynamic resource allocation (DRA) appear in
//     the answer as CDI devices, not device ids, and are not read.
//   - The answer is at most one TTL old: a pod started since is not yet
//     there (ErrPodNotFound until the next refresh).
package podresources
