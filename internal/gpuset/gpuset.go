// Package gpuset reads the GPUs a training process sees, as CUDA and the
// NVIDIA container toolkit name them (CUDA_VISIBLE_DEVICES,
// NVIDIA_VISIBLE_DEVICES), and places a GPU in that list. The exporter uses
// it to attach a GPU's metrics only to the runs that use the GPU, under the
// index the run sees (docs/mapping.md §9).
package gpuset

import (
	"os"
	"strconv"
	"strings"
)

// Attr is the resource attribute that carries a process's visible devices:
// the value of CUDA_VISIBLE_DEVICES, or of NVIDIA_VISIBLE_DEVICES when
// CUDA's is unset. OpenTelemetry's semantic conventions have no name for it.
const Attr = "nvidia.visible_devices"

// Entry is one device of a list: an NVML index, or a UUID or UUID prefix
// ("GPU-…" or "MIG-…", lower case).
type Entry struct {
	Index int64 // -1 for a UUID entry
	UUID  string
}

func (e Entry) String() string {
	if e.UUID != "" {
		return e.UUID
	}
	return strconv.FormatInt(e.Index, 10)
}

// Set is what a run sees of a host's GPUs.
type Set struct {
	// All: the whole host (the value is unset, empty or "all").
	All bool
	// Devices in the order the process sees them; empty (and not All) means
	// no GPU.
	Devices []Entry
	// Invalid is the first entry that names no device; it and the entries
	// after it were dropped, as CUDA drops them.
	Invalid string
}

// Parse reads a CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES value.
//
//   - "", "all": the whole host. (CUDA hides every GPU when
//     CUDA_VISIBLE_DEVICES is set but empty; an empty attribute cannot tell
//     that from "unset", so senders report "none" for it, as the tracking
//     API does.)
//   - "none", "void", "-1" (any negative index), "NoDevFiles": no GPU.
//   - a comma-separated list of NVML indices and UUIDs ("GPU-…", "MIG-…",
//     or a unique prefix of one, as CUDA accepts them), blanks ignored.
//     Like CUDA, the list ends at the first entry that is no device: the
//     entries before it stay ("0,1,-1,2" is 0,1), and Invalid names it.
func Parse(v string) Set {
	v = strings.TrimSpace(v)
	switch strings.ToLower(v) {
	case "", "all":
		return Set{All: true}
	case "none", "void", "nodevfiles":
		return Set{}
	}
	var s Set
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		e, ok := parseEntry(f)
		if !ok {
			if !isNegative(f) {
				s.Invalid = f
			}
			break
		}
		if !s.has(e) {
			s.Devices = append(s.Devices, e)
		}
	}
	return s
}

func isNegative(f string) bool {
	n, err := strconv.ParseInt(f, 10, 64)
	return err == nil && n < 0
}

func parseEntry(f string) (Entry, bool) {
	if n, err := strconv.ParseInt(f, 10, 64); err == nil {
		return Entry{Index: n}, n >= 0
	}
	l := strings.ToLower(f)
	if (strings.HasPrefix(l, "gpu-") || strings.HasPrefix(l, "mig-")) && len(l) > 4 {
		return Entry{Index: -1, UUID: l}, true
	}
	return Entry{}, false
}

func (s *Set) has(e Entry) bool {
	for _, d := range s.Devices {
		if d == e {
			return true
		}
	}
	return false
}

// Equal reports the same devices in the same order.
func (s Set) Equal(o Set) bool {
	if s.All != o.All || s.Invalid != o.Invalid || len(s.Devices) != len(o.Devices) {
		return false
	}
	for i := range s.Devices {
		if s.Devices[i] != o.Devices[i] {
			return false
		}
	}
	return true
}

// Merge joins the sets of two processes of one run on one host: the whole
// host when either sees it, else s's devices then o's new ones.
func (s Set) Merge(o Set) Set {
	if s.All || o.All {
		return Set{All: true}
	}
	m := Set{Devices: append([]Entry(nil), s.Devices...), Invalid: s.Invalid}
	if m.Invalid == "" {
		m.Invalid = o.Invalid
	}
	for _, e := range o.Devices {
		if !m.has(e) {
			m.Devices = append(m.Devices, e)
		}
	}
	return m
}

// GPU is one device as the gpu receiver names it on its resource.
type GPU struct {
	Index int64  // hw.gpu.index (of the parent GPU for a MIG instance)
	UUID  string // hw.id
	// Parent is hw.parent, the parent GPU's UUID, for a MIG instance.
	Parent string
	MIG    bool
}

func (e Entry) matches(index int64, uuid string) bool {
	if e.UUID != "" {
		return uuid != "" && strings.HasPrefix(strings.ToLower(uuid), e.UUID)
	}
	return e.Index == index
}

// Position places g in the set: the index the process sees it under (its
// position in the list), and whether it is seen through its parent GPU (a
// MIG instance of a listed GPU, named under that GPU). ok is false when the
// run does not see g. For the whole host the position is g's NVML index.
func (s Set) Position(g GPU) (pos int64, viaParent, ok bool) {
	if s.All {
		return g.Index, g.MIG, true
	}
	if g.MIG {
		for i, e := range s.Devices {
			if e.UUID != "" && e.matches(-2, g.UUID) {
				return int64(i), false, true
			}
		}
		for i, e := range s.Devices {
			if e.matches(g.Index, g.Parent) {
				return int64(i), true, true
			}
		}
		return 0, false, false
	}
	for i, e := range s.Devices {
		if e.matches(g.Index, g.UUID) {
			return int64(i), false, true
		}
	}
	return 0, false, false
}

// FromEnv is the value a process reports in Attr: CUDA_VISIBLE_DEVICES, else
// NVIDIA_VISIBLE_DEVICES; "none" when CUDA_VISIBLE_DEVICES is set but empty
// (CUDA then sees no GPU). ok is false when neither is set.
func FromEnv(lookup func(string) (string, bool)) (string, bool) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if v, ok := lookup("CUDA_VISIBLE_DEVICES"); ok {
		if strings.TrimSpace(v) == "" {
			return "none", true
		}
		return v, true
	}
	if v, ok := lookup("NVIDIA_VISIBLE_DEVICES"); ok {
		if strings.TrimSpace(v) == "" {
			// The container toolkit treats an empty value as "void".
			return "void", true
		}
		return v, true
	}
	return "", false
}
