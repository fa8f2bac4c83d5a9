package runs

import (
	"time"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/translate"
)

// ObservePlacement records the pod and Slurm job one of the run's resources
// names on host. Fields a resource leaves empty keep what another said.
func (m *Manager) ObservePlacement(r *Run, host string, pod translate.PodRef, slurmJob string) {
	if pod.IsZero() && slurmJob == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !pod.IsZero() {
		if r.placement == nil {
			r.placement = map[string]translate.PodRef{}
		}
		old := r.placement[host]
		if pod.UID == "" {
			pod.UID = old.UID
		}
		if pod.Name == "" {
			pod.Name, pod.Namespace = old.Name, old.Namespace
		}
		r.placement[host] = pod
	}
	if slurmJob != "" {
		if r.slurmJobs == nil {
			r.slurmJobs = map[string]string{}
		}
		r.slurmJobs[host] = slurmJob
	}
}

// Pod is the pod the run's resources named on host.
func (m *Manager) Pod(r *Run, host string) translate.PodRef {
	m.mu.Lock()
	defer m.mu.Unlock()
	return r.placement[host]
}

// InPod reports whether a process of pod uid (from its cgroup) belongs to
// the run: its resources named that pod on host.
func (m *Manager) InPod(r *Run, host, uid string) bool {
	if uid == "" {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return r.placement[host].UID == uid
}

// InContainer reports whether the process with pid vpid in container
// belongs to the run: one of its resources reported that pid with that
// container.id. Unlike HasPID, a pid alone never matches: it says nothing
// about which container.
func (m *Manager) InContainer(r *Run, vpid int64, container string) bool {
	if vpid == 0 || container == "" {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := r.cpids[containerPID{vpid, container}]
	return ok
}

// InSlurmJob reports whether a process of Slurm job (from its cgroup)
// belongs to the run: its resources named that job on host.
func (m *Manager) InSlurmJob(r *Run, host, job string) bool {
	if job == "" {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return r.slurmJobs[host] == job
}

// NoteScopedUsage records that the run's own pod or Slurm job reported its
// cgroup's CPU, memory and disk use on host at t (they then replace the
// host's in the run).
func (m *Manager) NoteScopedUsage(r *Run, host string, t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.scopedUsage == nil {
		r.scopedUsage = map[string]time.Time{}
	}
	r.scopedUsage[host] = t
}

// HasScopedUsage reports whether the run's pod or job reported its own use
// on host since since.
func (m *Manager) HasScopedUsage(r *Run, host string, since time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := r.scopedUsage[host]
	return ok && !t.Before(since)
}

// NoteGPUProcess records that one of the run's processes was on GPU gpuID
// (its hw.id) of host at t.
func (m *Manager) NoteGPUProcess(r *Run, host, gpuID string, t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.gpuProcs == nil {
		r.gpuProcs = map[string]map[string]time.Time{}
	}
	g := r.gpuProcs[host]
	if g == nil {
		g = map[string]time.Time{}
		r.gpuProcs[host] = g
	}
	g[gpuID] = t
}

// GPUsWithProcesses lists the GPUs (hw.id) of host the run's processes were
// seen on since since; GPUs not seen since are forgotten.
func (m *Manager) GPUsWithProcesses(r *Run, host string, since time.Time) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for id, t := range r.gpuProcs[host] {
		if t.Before(since) {
			delete(r.gpuProcs[host], id)
			continue
		}
		out = append(out, id)
	}
	return out
}
