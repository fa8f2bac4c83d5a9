package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// benchProc is a /proc of 50 processes, one per pod (the budget:
// 50 pods on an 8-GPU node), each in the systemd layout's container.
func benchProc(b *testing.B) (string, []int) {
	b.Helper()
	root := b.TempDir()
	pids := make([]int, 50)
	for i := range pids {
		pid := 10000 + i
		pids[i] = pid
		dir := filepath.Join(root, fmt.Sprint(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		stat := fmt.Sprintf("%d (python) S 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 %d 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n", pid, 100000+pid)
		status := fmt.Sprintf("Name:\tpython\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t1\nNStgid:\t%d\t1\nNSpid:\t%d\t1\nNSpgid:\t%d\t1\nNSsid:\t%d\t1\nVmPeak:\t 1234 kB\nVmSize:\t 1234 kB\nVmRSS:\t 1234 kB\nThreads:\t12\n", pid, pid, pid, pid, pid, pid)
		cg := fmt.Sprintf("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b2d1a4c_5e3f_4a7b_9c8d_%012x.slice/cri-containerd-%064x.scope\n", i, i)
		for name, data := range map[string]string{"stat": stat, "status": status, "cgroup": cg} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	return root, pids
}

// BenchmarkIdentify is the per-scrape cost of identifying 50 GPU
// processes: uncached, three reads each (stat, status, cgroup); cached, one
// (stat).
func BenchmarkIdentify(b *testing.B) {
	root, pids := benchProc(b)
	b.Run("uncached-50", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, pid := range pids {
				if id, err := Identify(root, pid); err != nil || id.PodUID == "" {
					b.Fatal(id, err)
				}
			}
		}
	})
	b.Run("cached-50", func(b *testing.B) {
		c := NewCache(root)
		b.ReportAllocs()
		for b.Loop() {
			for _, pid := range pids {
				if id, err := c.Identify(pid); err != nil || id.PodUID == "" {
					b.Fatal(id, err)
				}
			}
			c.Sweep()
		}
	})
}

// BenchmarkReadUsage reads one pod's usage (four files), then 50 pods'.
func BenchmarkReadUsage(b *testing.B) {
	b.Run("1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ReadUsage(fixtureCgroup, pod1Path); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("50", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for range 50 {
				if _, err := ReadUsage(fixtureCgroup, pod1Path); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkProcs lists the Slurm job's pids: 12 cgroups.
func BenchmarkProcs(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Procs(fixtureCgroup, jobPath); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseProcCgroup is the parse alone of a hybrid host's file.
func BenchmarkParseProcCgroup(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(fixtureProc, "701", "cgroup"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ParseProcCgroup(data).ContainerID == "" {
			b.Fatal("no container")
		}
	}
}

// benchPods is a cgroup v2 root with 50 burstable pods of the systemd
// driver, each with its four usage files and one container.
func benchPods(b *testing.B) string {
	b.Helper()
	root := b.TempDir()
	write := func(path, data string) {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	write(filepath.Join(root, "cgroup.controllers"), "cpu io memory pids\n")
	qos := filepath.Join(root, "kubepods.slice", "kubepods-burstable.slice")
	for i := range 50 {
		pod := filepath.Join(qos, fmt.Sprintf("kubepods-burstable-pod6b2d1a4c_5e3f_4a7b_9c8d_%012x.slice", i))
		if err := os.MkdirAll(filepath.Join(pod, fmt.Sprintf("cri-containerd-%064x.scope", i)), 0o755); err != nil {
			b.Fatal(err)
		}
		write(filepath.Join(pod, "cpu.stat"), "usage_usec 3500000\nuser_usec 3000000\nsystem_usec 500000\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n")
		write(filepath.Join(pod, "memory.current"), "3221225472\n")
		write(filepath.Join(pod, "memory.max"), "8589934592\n")
		write(filepath.Join(pod, "io.stat"), "259:0 rbytes=1000 wbytes=2000 rios=10 wios=20 dbytes=0 dios=0\n")
	}
	return root
}

// BenchmarkUsageReader reads 50 pods' cgroups per iteration, as a scrape
// does: with ReadUsage, opening each file afresh; with a UsageReader, its
// files held open from the previous iteration.
func BenchmarkUsageReader(b *testing.B) {
	root := benchPods(b)
	scopes, err := Scopes(root)
	if err != nil || len(scopes) != 50 {
		b.Fatal(len(scopes), err)
	}
	b.Run("ReadUsage-50", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, sc := range scopes {
				if _, err := ReadUsage(root, sc.Path); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("held-50", func(b *testing.B) {
		r := NewUsageReader(root, AllUsageFiles)
		defer r.Close()
		b.ReportAllocs()
		for b.Loop() {
			for _, sc := range scopes {
				if _, err := r.Read(sc.Path); err != nil {
					b.Fatal(err)
				}
			}
			r.Sweep()
		}
	})
}

// BenchmarkScopes lists 50 pods' cgroups (the 50 pods on a node),
// then lists and reads them: what the gpu receiver does per scrape with
// cgroup_root (its UsageReader holding the files of the previous scrape).
func BenchmarkScopes(b *testing.B) {
	root := benchPods(b)
	b.Run("list-50", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if s, err := Scopes(root); err != nil || len(s) != 50 {
				b.Fatal(len(s), err)
			}
		}
	})
	b.Run("list-and-read-50", func(b *testing.B) {
		r := NewUsageReader(root, AllUsageFiles)
		defer r.Close()
		b.ReportAllocs()
		for b.Loop() {
			s, err := Scopes(root)
			if err != nil || len(s) != 50 {
				b.Fatal(len(s), err)
			}
			for _, sc := range s {
				if _, err := r.Read(sc.Path); err != nil {
					b.Fatal(err)
				}
			}
			r.Sweep()
		}
	})
}
