package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCacheByPidAndStartTime(t *testing.T) {
	root := copyProc(t, "101")
	dir := filepath.Join(root, "101")
	c := NewCache(root)
	id, err := c.Identify(101)
	require.NoError(t, err)
	require.Equal(t, 1, id.NSpid)
	require.Equal(t, ctrA, id.ContainerID)

	// Same process (same start time): status and cgroup are not read again.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "status"), []byte("NSpid:\t101\t99\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cgroup"), []byte("0::/docker/"+ctrB+"\n"), 0o644))
	id, err = c.Identify(101)
	require.NoError(t, err)
	assert.Equal(t, 1, id.NSpid, "cached while the start time is the same")
	assert.Equal(t, ctrA, id.ContainerID)

	// The pid was reused by another process: read afresh.
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(strings.Replace(string(stat), " 100101 ", " 999999 ", 1)), 0o644))
	id, err = c.Identify(101)
	require.NoError(t, err)
	assert.Equal(t, 99, id.NSpid, "a new start time is a new process")
	assert.Equal(t, ctrB, id.ContainerID)
	assert.Equal(t, uint64(999999), id.StartTime)

	// Gone: an error, and the entry is dropped.
	require.NoError(t, os.RemoveAll(dir))
	_, err = c.Identify(101)
	require.ErrorIs(t, err, ErrNotFound)
	assert.Zero(t, c.Len())
}

func TestCacheKeepsOnlyCompleteAnswers(t *testing.T) {
	root := copyProc(t, "101")
	dir := filepath.Join(root, "101")
	require.NoError(t, os.Remove(filepath.Join(dir, "cgroup")))
	c := NewCache(root)
	id, err := c.Identify(101)
	require.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, 1, id.NSpid, "what was read comes back")
	assert.Zero(t, c.Len(), "not kept")

	// The file is back (a transient failure): read again.
	require.NoError(t, os.CopyFS(filepath.Join(root, "x"), os.DirFS(filepath.Join(fixtureProc, "101"))))
	require.NoError(t, os.Rename(filepath.Join(root, "x", "cgroup"), filepath.Join(dir, "cgroup")))
	id, err = c.Identify(101)
	require.NoError(t, err)
	assert.Equal(t, ctrA, id.ContainerID)
	assert.Equal(t, 1, c.Len())

	_, err = c.Identify(0)
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stat"), []byte("101 (x) S\n"), 0o644))
	_, err = c.Identify(101)
	require.ErrorIs(t, err, ErrMalformed)
}

func TestCacheSweep(t *testing.T) {
	c := NewCache(fixtureProc)
	for _, pid := range []int{101, 201} {
		_, err := c.Identify(pid)
		require.NoError(t, err)
	}
	c.Sweep()
	_, err := c.Identify(201)
	require.NoError(t, err)
	c.Sweep()
	assert.Equal(t, 1, c.Len(), "101 was not asked for since the previous Sweep")
	c.Sweep()
	assert.Zero(t, c.Len())
}

func TestCacheConcurrent(t *testing.T) {
	c := NewCache(fixtureProc)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				for _, pid := range []int{101, 102, 103, 201, 301, 401, 402, 999} {
					_, _ = c.Identify(pid)
				}
				c.Sweep()
			}
		})
	}
	wg.Wait()
	id, err := c.Identify(102)
	require.NoError(t, err)
	assert.Equal(t, 7, id.NSpid)
}
