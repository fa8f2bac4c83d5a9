package runs

import "github.com/otelcol-mlflow/otelcol-mlflow/internal/gpuset"

// ObserveDevices records the GPUs one of the run's processes sees on host,
// joined with what its other processes there see (gpuset.Set.Merge). It
// returns the run's set on host and whether it changed.
func (m *Manager) ObserveDevices(r *Run, host string, s gpuset.Set) (gpuset.Set, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.devices == nil {
		r.devices = map[string]gpuset.Set{}
	}
	old, had := r.devices[host]
	merged := s
	if had {
		merged = old.Merge(s)
		if merged.Equal(old) {
			return old, false
		}
	}
	r.devices[host] = merged
	return merged, true
}

// Devices is the run's set on host; ok is false when none of its processes
// there said which GPUs it sees (the whole host).
func (m *Manager) Devices(r *Run, host string) (s gpuset.Set, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok = r.devices[host]
	return s, ok
}
