package cgroups

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// Unlimited is Usage.MemoryMax for a cgroup without a memory limit
// (memory.max reads "max").
const Unlimited uint64 = math.MaxUint64

// Usage is a cgroup v2 cgroup's resource use, all of its processes and
// descendant cgroups together. Each group of fields is valid only when its
// Has flag is set: the memory and io controllers write their files only
// where the parent enables them (cgroup.subtree_control), and the root
// cgroup has no memory.current or memory.max.
type Usage struct {
	// HasCPU: cpu.stat was read. Its usage_usec, user_usec and system_usec
	// are written by the kernel whether or not the cpu controller is
	// enabled.
	HasCPU        bool
	CPUUsageUsec  uint64 // CPU time, microseconds, since the cgroup was made
	CPUUserUsec   uint64
	CPUSystemUsec uint64

	// HasMemory: memory.current was read.
	HasMemory     bool
	MemoryCurrent uint64 // bytes charged to the cgroup, page cache included
	// HasMemoryMax: memory.max was read.
	HasMemoryMax bool
	MemoryMax    uint64 // bytes; Unlimited for "max"

	// HasIO: io.stat was read (no line: no I/O yet, all zero).
	HasIO bool
	IO    IOStat
}

// IOStat is io.stat summed over the devices.
type IOStat struct {
	ReadBytes, WriteBytes uint64 // rbytes, wbytes
	ReadOps, WriteOps     uint64 // rios, wios
}

// ReadUsage reads cpu.stat, memory.current, memory.max and io.stat of the
// cgroup at path (a Cgroup.Path, PodPath, ContainerPath or SlurmJobPath)
// under cgroupRoot, the cgroup v2 hierarchy's mount (/sys/fs/cgroup).
//
// A cgroup that is not there gives ErrNotFound (it was removed: the
// container stopped), or ErrNotV2 when cgroupRoot is no cgroup v2 root; a
// path above the root, ErrOutsideNamespace; an unreadable file,
// ErrPermission or ErrUnreadable, with what was read before it. A missing
// memory or io file is no error: its Has flag stays false.
func ReadUsage(cgroupRoot, path string) (Usage, error) {
	var u Usage
	dir, err := cgroupDir(cgroupRoot, path)
	if err != nil {
		return u, err
	}
	b, err := readFile(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return u, notThere(cgroupRoot, err)
	}
	if err := parseCPUStat(&u, b); err != nil {
		return u, malformed(filepath.Join(dir, "cpu.stat"), err.Error())
	}
	u.HasCPU = true

	if b, err = readOptional(filepath.Join(dir, "memory.current")); err != nil {
		return u, err
	} else if b != nil {
		if u.MemoryCurrent, err = strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64); err != nil {
			return u, malformed(filepath.Join(dir, "memory.current"), err.Error())
		}
		u.HasMemory = true
	}
	if b, err = readOptional(filepath.Join(dir, "memory.max")); err != nil {
		return u, err
	} else if b != nil {
		if v := bytes.TrimSpace(b); string(v) == "max" {
			u.MemoryMax = Unlimited
		} else if u.MemoryMax, err = strconv.ParseUint(string(v), 10, 64); err != nil {
			return u, malformed(filepath.Join(dir, "memory.max"), err.Error())
		}
		u.HasMemoryMax = true
	}
	if b, err = readOptional(filepath.Join(dir, "io.stat")); err != nil {
		return u, err
	} else if b != nil {
		if err := parseIOStat(&u.IO, b); err != nil {
			return u, malformed(filepath.Join(dir, "io.stat"), err.Error())
		}
		u.HasIO = true
	}
	return u, nil
}

// readOptional reads a controller's file: nil, nil when it is not there.
func readOptional(path string) ([]byte, error) {
	b, err := readFile(path)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return b, err
}

// notThere turns the ErrNotFound of a cgroup's core file into ErrNotV2 when
// root is no cgroup v2 hierarchy: every v2 root has cgroup.controllers. The
// cost, one stat, is paid only when the cgroup is not there.
func notThere(root string, err error) error {
	if !errors.Is(err, ErrNotFound) {
		return err
	}
	if _, serr := os.Stat(filepath.Join(root, "cgroup.controllers")); serr != nil {
		return fmt.Errorf("cgroups: %s: %w: no cgroup.controllers (%v)", root, ErrNotV2, err)
	}
	return err
}

func parseCPUStat(u *Usage, b []byte) error {
	seen := 0
	for line := range bytes.Lines(b) {
		key, val, ok := bytes.Cut(bytes.TrimSpace(line), []byte(" "))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(key) {
		case "usage_usec":
			dst = &u.CPUUsageUsec
		case "user_usec":
			dst = &u.CPUUserUsec
		case "system_usec":
			dst = &u.CPUSystemUsec
		default:
			continue
		}
		v, err := strconv.ParseUint(string(bytes.TrimSpace(val)), 10, 64)
		if err != nil {
			return err
		}
		*dst = v
		seen++
	}
	if seen == 0 {
		return errors.New("no usage_usec")
	}
	return nil
}

// parseIOStat sums io.stat's lines, "MAJ:MIN rbytes=N wbytes=N rios=N
// wios=N dbytes=N dios=N" (keys the kernel may add are skipped).
func parseIOStat(s *IOStat, b []byte) error {
	for line := range bytes.Lines(b) {
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		for _, kv := range f[1:] {
			k, v, ok := bytes.Cut(kv, []byte("="))
			if !ok {
				return errors.New("no key=value: " + string(kv))
			}
			var dst *uint64
			switch string(k) {
			case "rbytes":
				dst = &s.ReadBytes
			case "wbytes":
				dst = &s.WriteBytes
			case "rios":
				dst = &s.ReadOps
			case "wios":
				dst = &s.WriteOps
			default:
				continue
			}
			n, err := strconv.ParseUint(string(v), 10, 64)
			if err != nil {
				return err
			}
			*dst += n
		}
	}
	return nil
}
