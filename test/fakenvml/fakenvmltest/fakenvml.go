// Package fakenvmltest builds fakenvml.c, a fake libnvidia-ml.so.1 whose GPUs,
// readings and compute processes come from a text fixture, and writes such
// fixtures. A collector started with LD_LIBRARY_PATH=Build(t) and
// FAKE_NVML_FIXTURE=<fixture> runs its real NVML path (go-nvml's dlopen and
// cgo calls) on a machine without NVIDIA GPUs; fakenvml.c's header comment
// says what it fakes and what it leaves out.
package fakenvmltest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// LibName is the name go-nvml dlopens.
const LibName = "libnvidia-ml.so.1"

// FixtureEnv names the fixture file in the environment of the process that
// loads the library.
const FixtureEnv = "FAKE_NVML_FIXTURE"

func srcDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Build compiles fakenvml.c into a new temporary directory and returns the
// directory (for LD_LIBRARY_PATH). It skips the test when gcc is absent,
// the one thing a test cannot provide; any other failure fails the test.
func Build(tb testing.TB) string {
	tb.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		tb.Skip("gcc not found: cannot build the fake libnvidia-ml.so.1 (test/fakenvml) this test runs the collector with")
	}
	// go-nvml's own nvml.h: the compiler then checks every exported
	// function against the declarations the Go binding calls through.
	list := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/NVIDIA/go-nvml")
	list.Dir = srcDir()
	out, err := list.Output()
	if err != nil {
		tb.Fatalf("locate go-nvml for nvml.h: %v", err)
	}
	header := filepath.Join(strings.TrimSpace(string(out)), "pkg", "nvml")
	if _, err := os.Stat(filepath.Join(header, "nvml.h")); err != nil {
		tb.Fatalf("nvml.h: %v", err)
	}
	dir := tb.TempDir()
	cc := exec.Command(gcc, "-shared", "-fPIC", "-pthread", "-O2", "-Wall", "-Wextra",
		"-I", header, "-Wl,-soname,"+LibName,
		"-o", filepath.Join(dir, LibName), filepath.Join(srcDir(), "..", "fakenvml.c"))
	msg, err := cc.CombinedOutput()
	if err != nil {
		tb.Fatalf("build fake NVML: %v\n%s", err, msg)
	}
	if len(msg) > 0 {
		tb.Logf("gcc says about fakenvml.c:\n%s", msg)
	}
	return dir
}

// Machine is what the library reports: the driver version and the GPUs in
// NVML index order.
type Machine struct {
	Driver string
	GPUs   []GPU
}

// GPU is one device. Values holds fakenvml.c's gpu keys (util, mem_util,
// mem_total, mem_used, temp, power_mw, power_limit_mw, energy_mj,
// sm_clock_mhz, mem_clock_mhz, clocks_event_reasons, ecc_corrected,
// ecc_uncorrected); a key left out is NVML_ERROR_NOT_SUPPORTED.
type GPU struct {
	UUID, Name string
	Values     map[string]uint64
	Procs      []Proc
}

// Proc is a compute process on a GPU: its pid as NVML reports it (the
// host's), its device memory in bytes and its SM utilisation in percent.
type Proc struct {
	PID uint32
	Mem uint64
	SM  uint32
}

// Fixture renders the machine in fakenvml.c's format.
func (m Machine) Fixture() string {
	var b bytes.Buffer
	if m.Driver != "" {
		fmt.Fprintf(&b, "driver %s\n", m.Driver)
	}
	for _, g := range m.GPUs {
		keys := make([]string, 0, len(g.Values))
		for k := range g.Values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "gpu uuid=%s", g.UUID)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%d", k, g.Values[k])
		}
		if g.Name != "" {
			fmt.Fprintf(&b, " name=%s", g.Name)
		}
		b.WriteByte('\n')
		for _, p := range g.Procs {
			fmt.Fprintf(&b, "proc pid=%d mem=%d sm=%d\n", p.PID, p.Mem, p.SM)
		}
	}
	return b.String()
}

// Write replaces the fixture at path whole (a new file renamed over it), so
// that a library rereading it sees the old machine or the new one, never
// half of one.
func (m Machine) Write(tb testing.TB, path string) {
	tb.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(m.Fixture()), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
}
