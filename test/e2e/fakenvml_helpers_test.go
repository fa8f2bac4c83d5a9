package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// fnProcRoot is a stand-in for the host's /proc, given to the collector as
// HOST_PROC the way a containerised node agent gets the host's: every
// non-process entry of this machine's /proc (stat, meminfo, diskstats,
// net, self, ...) is a link to the real one, so host metrics are this
// machine's; a process is either a link to a real /proc/<pid> or a fake
// one (stat, status, cgroup) standing for a process in a pod's PID
// namespace and cgroup, which this machine cannot have without root.
type fnProcRoot struct {
	dir string
}

func newFnProcRoot(t *testing.T) *fnProcRoot {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			continue // processes: only those the test adds
		}
		require.NoError(t, os.Symlink(filepath.Join("/proc", e.Name()), filepath.Join(dir, e.Name())))
	}
	return &fnProcRoot{dir: dir}
}

// link makes a real process of this machine visible.
func (p *fnProcRoot) link(t *testing.T, pid int) {
	t.Helper()
	require.NoError(t, os.Symlink(fmt.Sprintf("/proc/%d", pid), filepath.Join(p.dir, strconv.Itoa(pid))))
}

// fake adds a process hostPID that is vpid in its own PID namespace (the
// last NSpid value; 0: it runs in the host's) and lives in cgroup (a cgroup
// v2 path), with the start
// time 100000+hostPID (field 22 of stat), in the kernel's formats that
// internal/cgroups parses.
func (p *fnProcRoot) fake(t *testing.T, hostPID, vpid int, cgroup string) {
	t.Helper()
	dir := filepath.Join(p.dir, strconv.Itoa(hostPID))
	require.NoError(t, os.Mkdir(dir, 0o755))
	stat := fmt.Sprintf("%d (python) S 1 %d %d 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0\n", hostPID, hostPID, hostPID, 100000+hostPID)
	nspid := strconv.Itoa(hostPID)
	if vpid != 0 {
		nspid += "\t" + strconv.Itoa(vpid)
	}
	status := fmt.Sprintf("Name:\tpython\nState:\tS (sleeping)\nPid:\t%d\nNSpid:\t%s\n", hostPID, nspid)
	for name, data := range map[string]string{"stat": stat, "status": status, "cgroup": "0::/" + cgroup + "\n"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o444))
	}
}

// fnStartCollector starts the binary with cfg (plus a debug exporter, as
// nrStartCollector does) and env. The collector's own process is linked
// into the proc root at its start, by a shell that then execs the binary
// (same pid): the collector's process telemetry reads its own
// HOST_PROC/<pid>, whose number nobody knows before the start.
func fnStartCollector(t *testing.T, cfg Config, procRoot string, env []string) *Collector {
	t.Helper()
	dir := t.TempDir()
	ports := newPorts(t)
	y, path := renderWithDebug(t, cfg, ports, dir)
	const script = `ln -s "/proc/$$" "$HOST_PROC/$$" && exec "$0" "$@"`
	env = append(env, "HOST_PROC="+procRoot)
	return launch(t, dir, ports, y, env, "/bin/sh", "-c", script, collectorBinary(t), "--config", path)
}
