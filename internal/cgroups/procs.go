package cgroups

import (
	"bytes"
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Procs returns the pids of the processes in the cgroup at path under
// cgroupRoot and in all its descendants (cgroup.procs, recursively), in
// ascending order: what a pod's cgroup (PodPath) or a Slurm job's
// (SlurmJobPath, all steps) holds. The pids are in the PID namespace of
// the process that reads: the host's when the collector shares it or
// reads the host's /proc (cgroup.procs says so for the reader's namespace;
// processes outside it are left out by the kernel).
//
// The cgroup not there gives ErrNotFound (or ErrNotV2, as ReadUsage); a
// descendant removed during the walk is skipped; one that cannot be read
// is passed over, and the pids of all the others come back with the first
// such error (ErrPermission, ErrUnreadable, ErrMalformed).
func Procs(cgroupRoot, path string) ([]int, error) {
	dir, err := cgroupDir(cgroupRoot, path)
	if err != nil {
		return nil, err
	}
	var pids []int
	err = walkProcs(dir, &pids, true)
	if errors.Is(err, ErrNotFound) { // only the cgroup's own: a descendant's is skipped
		err = notThere(cgroupRoot, err)
	}
	slices.Sort(pids)
	return pids, err
}

// walkProcs appends the pids of dir and its descendants. A descendant that
// fails is passed over and the walk goes on; the first error is returned.
func walkProcs(dir string, pids *[]int, top bool) error {
	b, err := readFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		if !top && errors.Is(err, ErrNotFound) {
			return nil // removed since its parent was listed
		}
		if top {
			return err
		}
	}
	first := err
	for line := range bytes.Lines(b) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		pid, err := strconv.Atoi(string(line))
		if err != nil {
			first = cmp.Or(first, malformed(filepath.Join(dir, "cgroup.procs"), err.Error()))
			break
		}
		*pids = append(*pids, pid)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !top && errors.Is(err, os.ErrNotExist) {
			return first
		}
		return cmp.Or(first, fileError(dir, err))
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if err := walkProcs(filepath.Join(dir, e.Name()), pids, false); err != nil {
			first = cmp.Or(first, err)
		}
	}
	return first
}
