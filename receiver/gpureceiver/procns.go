package gpureceiver

import (
	"context"
	"os"
	"runtime"

	"github.com/shirou/gopsutil/v4/common"
	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/cgroups"
)

// procRoot is where the host's /proc is mounted: HOST_PROC from the context
// first, then from the environment, like gopsutil.
func procRoot(ctx context.Context) string {
	if env, ok := ctx.Value(common.EnvKey).(common.EnvMap); ok && env[common.HostProcEnvKey] != "" {
		return env[common.HostProcEnvKey]
	}
	if v := os.Getenv(string(common.HostProcEnvKey)); v != "" {
		return v
	}
	return "/proc"
}

// procNS is what /proc says about one process's namespaces. vpid 0: the
// process runs in the PID namespace of the /proc mount (nothing to add).
type procNS struct {
	start       uint64 // start time, /proc/<pid>/stat field 22
	vpid        int64
	containerID string
	// podUID and slurmJob name the pod or Slurm job of the process's
	// cgroup, also for a process in the host's PID namespace.
	podUID, slurmJob string
	seen             uint64 // generation of the last scrape that asked
}

// nsResolver maps host pids to their namespaced pid and container id. It
// reads /proc/<pid>/stat on every scrape (one small read) and status and
// cgroup only for a process it has not met yet: an entry is keyed by pid and
// start time, as pids are reused. Failures cost the attributes of that
// process only and are logged once. Not safe for concurrent use: the
// scraper calls it serially.
type nsResolver struct {
	logger *zap.Logger
	root   string
	gen    uint64
	cache  map[uint32]*procNS
	warned bool
	off    bool
}

func newNSResolver(logger *zap.Logger) *nsResolver {
	return &nsResolver{logger: logger, cache: map[uint32]*procNS{}, off: runtime.GOOS != "linux"}
}

// begin starts a scrape: the proc root is looked up again (the context may
// carry HOST_PROC) and entries not asked for during the previous scrape are
// dropped, so the cache holds at most the processes of two scrapes.
func (r *nsResolver) begin(ctx context.Context, fixedRoot string) {
	root := fixedRoot
	if root == "" {
		root = procRoot(ctx)
	}
	if root != r.root {
		clear(r.cache)
		r.root = root
	}
	for pid, e := range r.cache {
		if e.seen < r.gen {
			delete(r.cache, pid)
		}
	}
	r.gen++
}

// lookup returns the namespaced pid and container id of host pid, ok false
// when the process runs in the /proc mount's own PID namespace or /proc
// does not tell. The files are read and parsed by internal/cgroups.
func (r *nsResolver) lookup(pid uint32) (vpid int64, containerID string, ok bool) {
	if r.off || pid == 0 {
		return 0, "", false
	}
	e := r.cache[pid]
	if e != nil && e.seen == r.gen {
		return e.vpid, e.containerID, e.vpid != 0 // asked before in this scrape
	}
	start, err := cgroups.ReadStartTime(r.root, int(pid))
	if err != nil {
		r.fail(pid, err)
		delete(r.cache, pid)
		return 0, "", false
	}
	if e == nil || e.start != start {
		e = &procNS{start: start}
		r.cache[pid] = e
		id, err := cgroups.Identify(r.root, int(pid))
		if err != nil {
			r.fail(pid, err)
		}
		if id.StartTime != 0 {
			e.start = id.StartTime // the pid may have been reused since the read above
		}
		if e.vpid = int64(id.NSpid); e.vpid != 0 {
			e.containerID = id.ContainerID
		}
		e.podUID, e.slurmJob = id.PodUID, id.SlurmJobID
	}
	e.seen = r.gen
	return e.vpid, e.containerID, e.vpid != 0
}

// placement is the pod UID and Slurm job of a process looked up in this
// scrape, "" when its cgroup names none.
func (r *nsResolver) placement(pid uint32) (podUID, slurmJob string) {
	if e := r.cache[pid]; e != nil && e.seen == r.gen {
		return e.podUID, e.slurmJob
	}
	return "", ""
}

func (r *nsResolver) fail(pid uint32, err error) {
	if r.warned {
		return
	}
	r.warned = true
	r.logger.Info("Cannot read /proc for a GPU process: its per-process GPU points carry no process.vpid/container.id, "+
		"so a run in another PID namespace is not charged for it (mount the host's /proc and set HOST_PROC, or share the host's PID namespace); "+
		"logged once", zap.String("proc", r.root), zap.Uint32("pid", pid), zap.Error(err))
}
