package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeByRename replaces a file as test/e2e does, by a new inode: a file
// held open off cgroupfs still reads the old one.
func writeByRename(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(data), 0o644))
	require.NoError(t, os.Rename(tmp, path))
}

// The counters move on between reads, written in place or by rename, and
// files come and go: each read says what the files say then.
func TestUsageReaderSeesNewContents(t *testing.T) {
	root := copyCgroup(t, jobPath)
	dir := filepath.Join(root, jobPath)
	r := NewUsageReader(root, AllUsageFiles)
	defer r.Close()
	u, err := r.Read(jobPath)
	require.NoError(t, err)
	require.Equal(t, uint64(2000000), u.CPUUsageUsec)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "cpu.stat"), []byte("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n"), 0o644))
	writeByRename(t, filepath.Join(dir, "memory.current"), "42\n")
	writeByRename(t, filepath.Join(dir, "io.stat"), "8:0 rbytes=1 wbytes=2 rios=3 wios=4\n8:16 rbytes=10 wbytes=20 rios=30 wios=40\n")
	u, err = r.Read(jobPath)
	require.NoError(t, err)
	assert.Equal(t, Usage{
		HasCPU: true, CPUUsageUsec: 2500000, CPUUserUsec: 2000000, CPUSystemUsec: 500000,
		HasMemory: true, MemoryCurrent: 42, HasMemoryMax: true, MemoryMax: 68719476736,
		HasIO: true, IO: IOStat{ReadBytes: 11, WriteBytes: 22, ReadOps: 33, WriteOps: 44},
	}, u)

	// The io controller turned off, then on again.
	require.NoError(t, os.Remove(filepath.Join(dir, "io.stat")))
	u, err = r.Read(jobPath)
	require.NoError(t, err)
	assert.False(t, u.HasIO)
	assert.Zero(t, u.IO)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "io.stat"), []byte("8:0 rbytes=7 wbytes=0 rios=1 wios=0\n"), 0o644))
	u, err = r.Read(jobPath)
	require.NoError(t, err)
	assert.True(t, u.HasIO)
	assert.Equal(t, uint64(7), u.IO.ReadBytes)
}

// A cgroup removed since the last read is ErrNotFound, and nothing of it
// is held; one made again at the same path is read anew.
func TestUsageReaderVanishedAndMadeAgain(t *testing.T) {
	root := copyCgroup(t, jobPath)
	dir := filepath.Join(root, jobPath)
	r := NewUsageReader(root, AllUsageFiles)
	defer r.Close()
	_, err := r.Read(jobPath)
	require.NoError(t, err)

	require.NoError(t, os.RemoveAll(dir))
	_, err = r.Read(jobPath)
	require.ErrorIs(t, err, ErrNotFound)
	assert.Zero(t, r.held)
	assert.Empty(t, r.cgroups)

	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cpu.stat"), []byte("usage_usec 5\nuser_usec 5\nsystem_usec 0\n"), 0o644))
	u, err := r.Read(jobPath)
	require.NoError(t, err)
	assert.Equal(t, Usage{HasCPU: true, CPUUsageUsec: 5, CPUUserUsec: 5}, u, "the new cgroup's, without memory or io files")
}

// A reader reads cpu.stat and the files it was made for, no others: a
// broken file it was not asked for costs nothing.
func TestUsageReaderFiles(t *testing.T) {
	const broken = "/system.slice/broken-io.service" // its io.stat is malformed
	full, err := ReadUsage(fixtureCgroup, pod1Path)
	require.NoError(t, err)
	for _, tc := range []struct {
		files UsageFiles
		want  func(Usage) Usage
	}{
		{0, func(u Usage) Usage {
			u.HasMemory, u.MemoryCurrent, u.HasMemoryMax, u.MemoryMax, u.HasIO, u.IO = false, 0, false, 0, false, IOStat{}
			return u
		}},
		{MemoryCurrentFile, func(u Usage) Usage {
			u.HasMemoryMax, u.MemoryMax, u.HasIO, u.IO = false, 0, false, IOStat{}
			return u
		}},
		{MemoryCurrentFile | MemoryMaxFile, func(u Usage) Usage {
			u.HasIO, u.IO = false, IOStat{}
			return u
		}},
		{IOStatFile, func(u Usage) Usage {
			u.HasMemory, u.MemoryCurrent, u.HasMemoryMax, u.MemoryMax = false, 0, false, 0
			return u
		}},
		{AllUsageFiles, func(u Usage) Usage { return u }},
	} {
		t.Run(fmt.Sprintf("files %03b", tc.files), func(t *testing.T) {
			r := NewUsageReader(fixtureCgroup, tc.files)
			defer r.Close()
			got, err := r.Read(pod1Path)
			require.NoError(t, err)
			assert.Equal(t, tc.want(full), got)
			_, err = r.Read(broken)
			if tc.files&IOStatFile != 0 {
				assert.ErrorIs(t, err, ErrMalformed)
			} else {
				assert.NoError(t, err)
			}
		})
	}
}

func TestParseUint(t *testing.T) {
	for _, s := range []string{
		"0", "7", "3221225472", "0000000000000000042",
		"9999999999999999999", "18446744073709551615", // 19 digits, the largest
		"18446744073709551616", "99999999999999999999", "123456789012345678901", // overflow
		"", "+1", "-1", "1_000", "0x10", "1.5", "12a", " 1", "max",
	} {
		want, wantErr := strconv.ParseUint(s, 10, 64)
		got, err := parseUint([]byte(s))
		assert.Equal(t, want, got, "%q", s)
		if wantErr == nil {
			assert.NoError(t, err, "%q", s)
		} else {
			assert.EqualError(t, err, wantErr.Error(), "%q", s)
		}
	}
}
