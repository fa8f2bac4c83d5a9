package cgroups

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Cgroup is a process's cgroup, from /proc/<pid>/cgroup: the path the
// package doc's rules choose and what it names.
type Cgroup struct {
	// Path is the cgroup's path, as the kernel writes it: relative to the
	// cgroup namespace of the reader of /proc (absolute under the host's
	// /sys/fs/cgroup when that is the host's; "/../.." when the process is
	// outside the reader's namespace). "" when the file has no line.
	Path string
	// Unified: Path is the cgroup v2 ("0::") line's; usage can be read
	// from it (ReadUsage) on a cgroup v2 host.
	Unified bool
	// V1: the file has cgroup v1 lines (a v1-only or hybrid host).
	V1 bool
	Names
}

// Identity is what the kernel says about one process: its cgroup, and its
// pid in its own PID namespace.
type Identity struct {
	// PID is the pid asked for: the process's pid in the PID namespace of
	// the /proc it was read from (the host's, for the host's /proc).
	PID int
	// StartTime is field 22 of /proc/<pid>/stat, clock ticks after boot.
	// PID and StartTime name one process: pids are reused.
	StartTime uint64
	// NSpid is the process's pid in its innermost PID namespace (the last
	// value of NSpid in /proc/<pid>/status, the pid the process itself
	// sees and reports as process.pid); 0 when the process runs in the PID
	// namespace of the /proc mount, or the kernel (before 4.1) does not
	// say.
	NSpid int
	Cgroup
}

// Identify reads /proc/<pid>/stat, status and cgroup under procRoot. Only a
// failure to read stat leaves nothing; otherwise it returns what it read
// together with the first error, so a process whose cgroup file is
// unreadable still has its NSpid. A process that is gone gives ErrNotFound.
func Identify(procRoot string, pid int) (Identity, error) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	if pid <= 0 {
		return Identity{PID: pid}, fileError(dir, os.ErrNotExist)
	}
	stat, err := readFile(filepath.Join(dir, "stat"))
	if err != nil {
		return Identity{PID: pid}, err
	}
	return identify(dir, pid, stat)
}

// identify is Identify past the read of stat.
func identify(dir string, pid int, stat []byte) (Identity, error) {
	id := Identity{PID: pid}
	var err error
	if id.StartTime, err = ParseStartTime(stat); err != nil {
		return id, malformed(filepath.Join(dir, "stat"), err.Error())
	}
	var first error
	if status, err := readFile(filepath.Join(dir, "status")); err != nil {
		first = err
	} else {
		id.NSpid = ParseNSpid(status)
	}
	if cg, err := readFile(filepath.Join(dir, "cgroup")); err != nil {
		if first == nil {
			first = err
		}
	} else {
		id.Cgroup = ParseProcCgroup(cg)
	}
	return id, first
}

// ReadStartTime reads the start time of /proc/<pid>/stat (see
// Identity.StartTime): one small read, to tell whether a pid still names
// the process met before.
func ReadStartTime(procRoot string, pid int) (uint64, error) {
	path := filepath.Join(procRoot, strconv.Itoa(pid), "stat")
	if pid <= 0 {
		return 0, fileError(path, os.ErrNotExist)
	}
	stat, err := readFile(path)
	if err != nil {
		return 0, err
	}
	v, err := ParseStartTime(stat)
	if err != nil {
		return 0, malformed(path, err.Error())
	}
	return v, nil
}

// ParseStartTime returns field 22 (starttime) of a /proc/<pid>/stat file.
// The command (field 2) may hold spaces and parentheses; it ends at the
// last ')'.
func ParseStartTime(stat []byte) (uint64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, strconv.ErrSyntax
	}
	f := stat[i+1:]
	const idx = 22 - 3 // fields after the command start with field 3
	for range idx {
		f = bytes.TrimLeft(f, " ")
		j := bytes.IndexByte(f, ' ')
		if j < 0 {
			return 0, strconv.ErrSyntax
		}
		f = f[j:]
	}
	f = bytes.TrimLeft(f, " ")
	if j := bytes.IndexAny(f, " \n"); j >= 0 {
		f = f[:j]
	}
	if len(f) == 0 {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseUint(string(f), 10, 64)
}

// ParseNSpid returns the last pid of a /proc/<pid>/status file's NSpid line
// when it lists more than one PID namespace level, else 0.
func ParseNSpid(status []byte) int {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("NSpid:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) < 2 {
			return 0
		}
		v, err := strconv.Atoi(string(f[len(f)-1]))
		if err != nil || v <= 0 {
			return 0
		}
		return v
	}
	return 0
}

// ParseProcCgroup reads a /proc/<pid>/cgroup file. Its lines are
// hierarchy-ID:controllers:path, the cgroup v2 line "0::<path>". Of the
// lines, in this order, the unified line, a v1 line of the cpu or cpuacct
// controller, one of the pids controller, then the rest in file order, the
// first whose path names a pod, container or Slurm job gives Path and
// Names; when none does, Path is the first of them.
func ParseProcCgroup(b []byte) Cgroup {
	type line struct {
		path    string
		unified bool
		rank    int
	}
	var lines [8]line // a host has at most a dozen v1 hierarchies
	cand := lines[:0]
	var c Cgroup
	for l := range bytes.Lines(b) {
		l = bytes.TrimRight(l, "\r\n")
		// The path may contain ':'.
		hier, rest, ok1 := bytes.Cut(l, []byte(":"))
		ctrl, path, ok2 := bytes.Cut(rest, []byte(":"))
		if !ok1 || !ok2 || len(path) == 0 {
			continue
		}
		ln := line{path: string(path), rank: 3}
		switch {
		case string(hier) == "0" && len(ctrl) == 0:
			ln.unified, ln.rank = true, 0
		case hasController(ctrl, "cpu") || hasController(ctrl, "cpuacct"):
			c.V1, ln.rank = true, 1
		case hasController(ctrl, "pids"):
			c.V1, ln.rank = true, 2
		default:
			c.V1 = true
		}
		cand = append(cand, ln)
	}
	if len(cand) == 0 {
		return c
	}
	// A stable insertion sort by rank: a handful of lines.
	for i := 1; i < len(cand); i++ {
		for j := i; j > 0 && cand[j].rank < cand[j-1].rank; j-- {
			cand[j], cand[j-1] = cand[j-1], cand[j]
		}
	}
	for _, ln := range cand {
		if n := ParsePath(ln.path); n.Named() {
			c.Path, c.Unified, c.Names = ln.path, ln.unified, n
			return c
		}
	}
	c.Path, c.Unified = cand[0].path, cand[0].unified
	return c
}

func hasController(list []byte, name string) bool {
	for c := range bytes.SplitSeq(list, []byte(",")) {
		if string(c) == name {
			return true
		}
	}
	return false
}

// cgroupDir is the directory of cgroup path under root.
func cgroupDir(root, path string) (string, error) {
	if !strings.HasPrefix(path, "/") {
		return "", malformed(path, "a cgroup path starts with /")
	}
	for elem := range strings.SplitSeq(path, "/") {
		if elem == ".." {
			return "", fmt.Errorf("cgroups: %s: %w", path, ErrOutsideNamespace)
		}
	}
	return filepath.Join(root, filepath.FromSlash(path)), nil
}
