// Package cgroups is what the kernel says about a process's cgroup and PID
// namespace, and about a cgroup's resource use. The GPU receiver and the
// run attribution use it to map the host pids NVML reports on each GPU to
// the pod, container or Slurm job of a training run (issue "Shared GPU
// nodes: each run gets its own GPUs' metrics"), and to read a run's
// container's CPU, memory and I/O in place of the host's.
//
// Everything is read from files under two roots the caller passes: the
// host's /proc (procRoot) and the host's cgroup v2 mount, /sys/fs/cgroup
// (cgroupRoot). Tests pass fixture trees (testdata/).
//
//   - Identify(procRoot, pid) reads /proc/<pid>/stat (start time), status
//     (NSpid: the pid the process sees in its own PID namespace) and cgroup
//     (its cgroup path and what the path names: pod UID, container id,
//     Slurm job). Cache does the same and keeps answers by pid and start
//     time.
//   - ReadUsage(cgroupRoot, path) reads cpu.stat, memory.current,
//     memory.max and io.stat of a cgroup. A UsageReader does the same
//     scrape after scrape, its cgroups' files held open in between (one
//     pread each per read), and reads only the files its caller uses.
//   - Procs(cgroupRoot, path) lists the pids of a cgroup and its
//     descendants: a pod's, or a Slurm job's with all its steps.
//   - Scopes(cgroupRoot) lists the cgroups of the node's pods (both
//     kubelet cgroup drivers, every QoS class) and Slurm jobs, for a
//     per-pod and per-job ReadUsage.
//
// Errors wrap one of ErrNotFound (the process exited, the cgroup was
// removed), ErrPermission, ErrUnreadable, ErrMalformed, ErrNotV2 and
// ErrOutsideNamespace, for errors.Is, so that callers fall back (to the
// host's figures, to no attribution) rather than fail.
//
// # Which line of /proc/<pid>/cgroup
//
// Each line is hierarchy-ID:controllers:path. A cgroup v2 host writes one
// line, "0::<path>". A cgroup v1 host writes a line per hierarchy
// ("4:cpu,cpuacct:<path>", "7:pids:<path>", "1:name=systemd:<path>"), a
// hybrid host both. The unified "0::" line wins; on a hybrid host it is
// often just "/" (systemd keeps the unified hierarchy empty), and then a v1
// line decides: the cpu,cpuacct one, then pids, then the others in file
// order; the first whose path names a pod, container or Slurm job is
// taken (Cgroup.Unified says whether that is the v2 line).
//
// # Layouts
//
// What a path names is read element by element, and where a path nests
// several (Kubernetes in a container, as kind runs it) the innermost wins.
//
//   - Kubernetes, systemd cgroup driver (the default of kubeadm and most
//     distributions): /kubepods.slice/kubepods-burstable.slice/
//     kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope, the
//     pod's UID with underscores for dashes (systemd's slice separator);
//     kubepods-besteffort-pod<uid>.slice for BestEffort pods and
//     kubepods-pod<uid>.slice directly under kubepods.slice for Guaranteed
//     ones. The container's scope is cri-containerd-<id>, crio-<id> or
//     docker-<id> (cri-dockerd); CRI-O's crio-conmon-<id>.scope is the
//     container's monitor and names nothing. A containerd whose runc uses
//     cgroupfs under a kubelet of the systemd driver writes one element,
//     "<pod slice>:cri-containerd:<id>" (under
//     /system.slice/containerd.service).
//   - Kubernetes, cgroupfs driver: /kubepods/burstable/pod<uid>/<id>,
//     /kubepods/besteffort/pod<uid>/<id>, /kubepods/pod<uid>/<id>
//     (Guaranteed), the UID with dashes and the container id bare.
//   - The pod UID is reported in its dashed form, lower case; a static
//     pod's UID is 32 hex digits and is kept as such.
//   - A container outside Kubernetes: docker's /system.slice/docker-<id>.scope
//     (systemd driver) or /docker/<id> (cgroupfs), podman's
//     /machine.slice/libpod-<id>.scope (its processes one level below, in
//     .../container). Container ids are 64 lower-case hex digits.
//   - Slurm, cgroup/v2 plugin: /system.slice/slurmstepd.scope/job_<id>/
//     step_<step>/user/task_<n> (slurmstepd itself in step_<step>/slurm);
//     cgroup/v1: /slurm/uid_<uid>/job_<id>/step_<step>/task_<n>. A job_<id>
//     element counts below an element with "slurm" in its name only. The
//     job's cgroup, all its steps, is Names.SlurmJobPath.
//   - The PID namespace: NSpid in /proc/<pid>/status lists the process's
//     pid in each nested namespace, outermost first; the last is the one
//     the process sees (and reports as process.pid). One value: the
//     process runs in the namespace of the /proc mount.
//
// # Limits
//
//   - The collector must see the host's /proc and /sys/fs/cgroup: the
//     DaemonSet mounts both read-only (HOST_PROC for /proc). A collector
//     in its own PID namespace without the host's /proc sees none of the
//     training processes.
//   - Paths in /proc/<pid>/cgroup are relative to the cgroup namespace of
//     the process that reads them. In a private cgroup namespace (the
//     default for a container on a cgroup v2 host) another pod's path
//     reads "/../../kubepods.slice/…": what it names still holds, but
//     ReadUsage and Procs cannot place it under cgroupRoot and return
//     ErrOutsideNamespace. Running the collector in the host's cgroup
//     namespace avoids it.
//   - Usage is read from cgroup v2 only. On a cgroup v1-only host
//     ReadUsage and Procs return ErrNotV2 and callers keep the host's
//     figures; Identify still names pods, containers and jobs from the v1
//     lines. On a hybrid host, usage is read when the unified line names
//     the cgroup (and cgroupRoot is the unified mount).
//   - A cgroup's memory and io files exist only where its parent enables
//     those controllers; Usage's Has flags say which were read.
//   - Nothing here blocks: /proc and cgroupfs reads do not wait on a
//     process, and a process or cgroup that vanishes mid-read gives
//     ErrNotFound. Logging (once) is the caller's.
package cgroups
