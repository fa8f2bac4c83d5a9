package cgroups

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Scope is the cgroup of one workload a node runs: a Kubernetes pod or a
// Slurm job (all its steps). Exactly one of PodUID and SlurmJobID is set.
type Scope struct {
	// Path is the cgroup's path under the cgroup root, for ReadUsage and
	// Procs ("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice").
	Path string
	// PodUID is the pod's UID, dashed and in lower case, as Names.PodUID.
	PodUID string
	// QOSClass is the pod's QoS class: "guaranteed", "burstable" or
	// "besteffort".
	QOSClass string
	// SlurmJobID is the Slurm job's id (digits).
	SlurmJobID string
}

// The kubelet's QoS cgroups that hold pods (a Guaranteed pod sits directly
// in the kubepods cgroup), per cgroup driver.
var qosDirs = map[string]bool{
	"kubepods-burstable.slice": true, "kubepods-besteffort.slice": true, // systemd
	"burstable": true, "besteffort": true, // cgroupfs
}

// Scopes lists the pods' and Slurm jobs' cgroups of the cgroup v2 hierarchy
// mounted at cgroupRoot (/sys/fs/cgroup, or the host's mounted in a
// container), in path order:
//
//   - Kubernetes, systemd driver: /kubepods.slice/kubepods-<qos>.slice/
//     kubepods-<qos>-pod<uid>.slice (burstable, besteffort) and
//     /kubepods.slice/kubepods-pod<uid>.slice (guaranteed);
//   - Kubernetes, cgroupfs driver: /kubepods/<qos>/pod<uid> and
//     /kubepods/pod<uid>;
//   - Slurm, cgroup/v2 plugin: /system.slice/slurmstepd.scope/job_<id>;
//     and /slurm/uid_<uid>/job_<id> where that layout is there.
//
// Only those directories are read, at most three levels below the root;
// symbolic links are not followed, and the containers and steps below a
// pod or job are not listed (the pod's or job's cgroup counts them all).
// A kubelet whose --cgroup-root is not / (kind's /kubelet.slice) is not
// looked for.
//
// A root that is no cgroup v2 hierarchy (a cgroup v1 host, nothing mounted
// there) gives ErrNotV2. A directory that is not there, or is removed
// while it is listed, is no error; one that cannot be listed is passed
// over, and the scopes found elsewhere come back with the first such error
// (ErrPermission, ErrUnreadable).
func Scopes(cgroupRoot string) ([]Scope, error) {
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err != nil {
		return nil, fmt.Errorf("cgroups: %s: %w: no cgroup.controllers (%v)", cgroupRoot, ErrNotV2, err)
	}
	w := scopeWalk{root: cgroupRoot}
	for _, top := range [...]string{"/kubepods.slice", "/kubepods"} {
		if w.isDir(top) {
			w.pods(top, true)
		}
	}
	if w.isDir("/system.slice/slurmstepd.scope") {
		w.jobs("/system.slice/slurmstepd.scope")
	}
	if w.isDir("/slurm") {
		for _, uid := range w.list("/slurm") {
			if strings.HasPrefix(uid, "uid_") && isDigits(uid[len("uid_"):]) {
				w.jobs("/slurm/" + uid)
			}
		}
	}
	slices.SortFunc(w.out, func(a, b Scope) int { return strings.Compare(a.Path, b.Path) })
	return w.out, w.err
}

type scopeWalk struct {
	root string
	out  []Scope
	err  error // the first directory that could not be listed
}

// isDir reports whether the cgroup at path is a directory reached through
// no symbolic link below the root (cgroupfs has none: a link is something
// else mounted or made there).
func (w *scopeWalk) isDir(path string) bool {
	dir := w.root
	for elem := range strings.SplitSeq(strings.TrimPrefix(path, "/"), "/") {
		dir = filepath.Join(dir, elem)
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

// list returns the names of the subdirectories of the cgroup at path,
// symbolic links left out; nil when it is not there.
func (w *scopeWalk) list(path string) []string {
	dir := filepath.Join(w.root, filepath.FromSlash(path))
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			w.err = cmp.Or(w.err, fileError(dir, err))
		}
		return nil
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.IsDir() { // the type from the directory entry (lstat): a link is no directory
			names = append(names, e.Name())
		}
	}
	return names
}

// pods adds the pods directly in the cgroup at dir and, at the top
// (kubepods), those in its QoS cgroups.
func (w *scopeWalk) pods(dir string, top bool) {
	for _, name := range w.list(dir) {
		path := dir + "/" + name
		if n := ParsePath(path); n.PodUID != "" && n.PodPath == path {
			w.out = append(w.out, Scope{Path: path, PodUID: n.PodUID, QOSClass: n.QOSClass})
		} else if top && qosDirs[name] {
			w.pods(path, false)
		}
	}
}

// jobs adds the job_<id> cgroups directly in the cgroup at dir.
func (w *scopeWalk) jobs(dir string) {
	for _, name := range w.list(dir) {
		path := dir + "/" + name
		if n := ParsePath(path); n.SlurmJobID != "" && n.SlurmJobPath == path {
			w.out = append(w.out, Scope{Path: path, SlurmJobID: n.SlurmJobID})
		}
	}
}
