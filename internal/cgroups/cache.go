package cgroups

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Cache is Identify with memory: an identity is kept by pid and start time,
// so a process met before costs one read of /proc/<pid>/stat (pids are
// reused; the start time tells a new process from the old). Only complete
// answers are kept: a process whose status or cgroup could not be read is
// read again next time. Safe for concurrent use.
type Cache struct {
	root string

	mu      sync.Mutex
	gen     uint64
	entries map[int]*cacheEntry
}

type cacheEntry struct {
	id   Identity
	seen uint64 // the generation that last asked
}

// NewCache returns an empty Cache of the /proc mounted at procRoot.
func NewCache(procRoot string) *Cache {
	return &Cache{root: procRoot, entries: map[int]*cacheEntry{}}
}

// Identify is the package's Identify, from the cache when the process (pid
// and start time) is there. A process that is gone is dropped.
func (c *Cache) Identify(pid int) (Identity, error) {
	dir := filepath.Join(c.root, strconv.Itoa(pid))
	if pid <= 0 {
		return Identity{PID: pid}, fileError(dir, os.ErrNotExist)
	}
	stat, err := readFile(filepath.Join(dir, "stat"))
	if err != nil {
		c.mu.Lock()
		delete(c.entries, pid)
		c.mu.Unlock()
		return Identity{PID: pid}, err
	}
	start, err := ParseStartTime(stat)
	if err != nil {
		return Identity{PID: pid}, malformed(filepath.Join(dir, "stat"), err.Error())
	}
	c.mu.Lock()
	if e := c.entries[pid]; e != nil && e.id.StartTime == start {
		e.seen = c.gen
		id := e.id
		c.mu.Unlock()
		return id, nil
	}
	c.mu.Unlock()

	id, err := identify(dir, pid, stat)
	c.mu.Lock()
	if err == nil {
		c.entries[pid] = &cacheEntry{id: id, seen: c.gen}
	} else {
		delete(c.entries, pid)
	}
	c.mu.Unlock()
	return id, err
}

// Sweep drops the processes not asked for since the previous Sweep. Called
// once per scrape, it bounds the cache to the processes of two scrapes.
func (c *Cache) Sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for pid, e := range c.entries {
		if e.seen < c.gen {
			delete(c.entries, pid)
		}
	}
	c.gen++
}

// Len is the number of processes the cache holds.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
