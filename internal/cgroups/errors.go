package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// The errors a caller tells apart with errors.Is. Every error this package
// returns wraps exactly one of them and, where there is one, the cause (an
// *fs.PathError, so errors.Is(err, fs.ErrNotExist) works as well).
var (
	// ErrNotFound: the process or the cgroup is gone (it exited, or the
	// container stopped between the lookup and the read), or was never
	// there.
	ErrNotFound = errors.New("no such process or cgroup")
	// ErrPermission: a file exists but the collector may not read it (a
	// /proc mounted with hidepid, a cgroup file of mode 0).
	ErrPermission = errors.New("permission denied")
	// ErrUnreadable: any other failure to read a file (not a regular file,
	// an I/O error).
	ErrUnreadable = errors.New("unreadable")
	// ErrMalformed: a file was read but does not say what the kernel
	// writes there.
	ErrMalformed = errors.New("malformed")
	// ErrNotV2: the cgroup root is no cgroup v2 (unified) hierarchy: a host
	// with cgroup v1 only, or /sys/fs/cgroup not mounted. Usage is not read
	// there.
	ErrNotV2 = errors.New("not a cgroup v2 hierarchy")
	// ErrOutsideNamespace: the cgroup path climbs above the root ("/.."): the
	// process's cgroup is outside the cgroup namespace of the process that
	// read /proc/<pid>/cgroup, so the path cannot be found under the cgroup
	// root. The names in it (pod, container, Slurm job) still hold.
	ErrOutsideNamespace = errors.New("cgroup outside the reader's cgroup namespace")
)

// fileError wraps a read error of path in the sentinel that fits it.
func fileError(path string, err error) error {
	return fmt.Errorf("cgroups: %s: %w: %w", path, errorKind(err), err)
}

// errorKind is the sentinel that fits a read error.
func errorKind(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ESRCH):
		// ESRCH: /proc/<pid> of a process that exited while it was read.
		return ErrNotFound
	case errors.Is(err, fs.ErrPermission):
		return ErrPermission
	}
	return ErrUnreadable
}

func malformed(path, what string) error {
	return fmt.Errorf("cgroups: %s: %w: %s", path, ErrMalformed, what)
}
