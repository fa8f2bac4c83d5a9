package gpureceiver

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/shirou/gopsutil/v4/common"
	"go.uber.org/zap"
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
	seen        uint64 // generation of the last scrape that asked
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
// does not tell.
func (r *nsResolver) lookup(pid uint32) (vpid int64, containerID string, ok bool) {
	if r.off || pid == 0 {
		return 0, "", false
	}
	e := r.cache[pid]
	if e != nil && e.seen == r.gen {
		return e.vpid, e.containerID, e.vpid != 0 // asked before in this scrape
	}
	dir := filepath.Join(r.root, strconv.FormatUint(uint64(pid), 10))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		r.fail(pid, err)
		delete(r.cache, pid)
		return 0, "", false
	}
	start, err := parseStatStart(stat)
	if err != nil {
		r.fail(pid, err)
		delete(r.cache, pid)
		return 0, "", false
	}
	if e == nil || e.start != start {
		e = &procNS{start: start}
		r.cache[pid] = e
		status, err := os.ReadFile(filepath.Join(dir, "status"))
		if err != nil {
			r.fail(pid, err)
		} else if e.vpid = innermostNSpid(status); e.vpid != 0 {
			if cg, err := os.ReadFile(filepath.Join(dir, "cgroup")); err != nil {
				r.fail(pid, err)
			} else {
				e.containerID = containerIDFromCgroup(cg)
			}
		}
	}
	e.seen = r.gen
	return e.vpid, e.containerID, e.vpid != 0
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

// parseStatStart returns field 22 (starttime) of /proc/<pid>/stat. The
// command (field 2) may hold spaces and parentheses; it ends at the last ')'.
func parseStatStart(stat []byte) (uint64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, strconv.ErrSyntax
	}
	f := bytes.Fields(stat[i+1:])
	const idx = 22 - 3 // fields after the command start with field 3
	if len(f) <= idx {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseUint(string(f[idx]), 10, 64)
}

// innermostNSpid returns the last pid of the status file's NSpid line when
// it lists more than one namespace level, else 0.
func innermostNSpid(status []byte) int64 {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("NSpid:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) < 2 {
			return 0
		}
		v, err := strconv.ParseInt(string(f[len(f)-1]), 10, 64)
		if err != nil || v <= 0 {
			return 0
		}
		return v
	}
	return 0
}

// containerIDFromCgroup finds a container id (64 hex digits) in a
// /proc/<pid>/cgroup file: the innermost path element that is one, bare
// (cgroupfs: /docker/<id>, /kubepods/burstable/pod<uid>/<id>) or in a
// systemd scope (docker-<id>.scope, cri-containerd-<id>.scope,
// crio-<id>.scope, libpod-<id>.scope). The cgroup v2 line comes first when
// there is one; "" when no line names a container.
func containerIDFromCgroup(cg []byte) string {
	var v1 string
	for line := range bytes.Lines(cg) {
		line = bytes.TrimRight(line, "\r\n")
		// hierarchy-ID:controllers:path; the path may contain ':'.
		parts := bytes.SplitN(line, []byte(":"), 3)
		if len(parts) != 3 {
			continue
		}
		id := containerIDFromPath(parts[2])
		if id == "" {
			continue
		}
		if string(parts[0]) == "0" && len(parts[1]) == 0 {
			return id
		}
		if v1 == "" {
			v1 = id
		}
	}
	return v1
}

func containerIDFromPath(path []byte) string {
	for len(path) > 0 {
		i := bytes.LastIndexByte(path, '/')
		elem := path[i+1:]
		path = path[:max(i, 0)]
		elem = bytes.TrimSuffix(elem, []byte(".scope"))
		if j := bytes.LastIndexAny(elem, "-:"); j >= 0 {
			// docker-<id>, cri-containerd-<id>, crio-<id>, libpod-<id>;
			// "crio-conmon-<id>" is the container's monitor, not the container.
			if bytes.Contains(elem[:j], []byte("conmon")) {
				continue
			}
			elem = elem[j+1:]
		}
		if isHexID(elem) {
			return string(elem)
		}
		if i < 0 {
			break
		}
	}
	return ""
}

func isHexID(b []byte) bool {
	if len(b) != 64 {
		return false
	}
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
