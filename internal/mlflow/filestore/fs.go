package filestore

import (
	"bytes"
	"container/list"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// Temporary files live in the run or experiment directory, never inside
// metrics/, params/ or tags/: MLflow lists every file there as an entity, so a
// temp file left by a crash would show up as a bogus tag. MLflow ignores
// stray files next to meta.yaml.
const tempPattern = ".tmp-*"

// writeFileAtomic replaces path with data: a temp file in tmpDir, optionally
// fsynced, renamed over path. Readers and a crash see the old or the new
// content, never a mix.
func writeFileAtomic(tmpDir, path string, data []byte, sync bool) error {
	tmp, err := writeTemp(tmpDir, data, sync)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func writeTemp(dir string, data []byte, sync bool) (string, error) {
	f, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// CreateTemp makes 0600 files; MLflow's files are world-readable.
		err = os.Chmod(f.Name(), 0o644)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// createWithContent creates path holding data unless it exists, in which
// case it reports created=false. The file appears with its whole content at
// once (hard link of a finished temp file), so a crash never leaves an empty
// or partial file that MLflow would fail to read. Where hard links are not
// supported it falls back to O_EXCL create and write.
func createWithContent(tmpDir, path string, data []byte, sync bool) (created bool, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, err
	}
	tmp, err := writeTemp(tmpDir, data, sync)
	if err != nil {
		return false, err
	}
	err = os.Link(tmp, path)
	os.Remove(tmp)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrExist):
		return false, nil
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.ENOTSUP), errors.Is(err, syscall.EMLINK):
		return createExcl(path, data, sync)
	default:
		return false, err
	}
}

func createExcl(path string, data []byte, sync bool) (bool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err == nil, err
}

// isPathConflict reports an error caused by a key whose path collides with
// another key's ("a" is a file, so "a/b" cannot be created, and vice versa).
func isPathConflict(err error) bool {
	return errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) ||
		errors.Is(err, syscall.ENAMETOOLONG)
}

// repairTornTail truncates a final line that a crash left without its
// newline, so the next append does not glue a new line onto it. MLflow's
// reader would otherwise fail on (or misread) the merged line.
func repairTornTail(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if size == 0 {
		return nil
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return err
	}
	if last[0] == '\n' {
		return nil
	}
	const chunk = 4096
	end := size
	for end > 0 {
		start := max(end-chunk, 0)
		buf := make([]byte, end-start)
		if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			return f.Truncate(start + int64(i) + 1)
		}
		end = start
	}
	return f.Truncate(0)
}

// fdCache keeps append descriptors of metric files open so that logging a
// point costs one write, not open+write+close. It is bounded: the least
// recently used descriptor is closed once no writer holds it.
type fdCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]*list.Element
	lru     list.List // front = most recently used; values are *fdEntry
}

type fdEntry struct {
	path    string
	f       *os.File
	refs    int
	evicted bool
}

func newFDCache(max int) *fdCache {
	return &fdCache{max: max, entries: make(map[string]*list.Element)}
}

// get returns the cached entry for path, acquired, or nil.
func (c *fdCache) get(path string) *fdEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[path]
	if !ok {
		return nil
	}
	c.lru.MoveToFront(el)
	e := el.Value.(*fdEntry)
	e.refs++
	return e
}

// put caches f for path and returns it acquired. The caller must not put a
// path that is already cached (callers hold the run lock for the path).
func (c *fdCache) put(path string, f *os.File) *fdEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := &fdEntry{path: path, f: f, refs: 1}
	c.entries[path] = c.lru.PushFront(e)
	for c.lru.Len() > c.max {
		victim := c.oldestIdleLocked()
		if victim == nil {
			break // every descriptor is in use; shrink later
		}
		c.removeLocked(victim)
	}
	return e
}

func (c *fdCache) oldestIdleLocked() *list.Element {
	for el := c.lru.Back(); el != nil; el = el.Prev() {
		if el.Value.(*fdEntry).refs == 0 {
			return el
		}
	}
	return nil
}

func (c *fdCache) removeLocked(el *list.Element) {
	e := el.Value.(*fdEntry)
	c.lru.Remove(el)
	delete(c.entries, e.path)
	e.evicted = true
	if e.refs == 0 {
		e.f.Close()
	}
}

// release gives back an acquired entry; an evicted one is closed by its last
// holder.
func (c *fdCache) release(e *fdEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	if e.refs == 0 && e.evicted {
		e.f.Close()
	}
}

// drop forgets path (after a failed write) so the next append reopens it.
func (c *fdCache) drop(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[path]; ok {
		c.removeLocked(el)
	}
}

// closeUnder closes every descriptor below dir, used before a directory is
// moved (experiment delete and restore).
func (c *fdCache) closeUnder(dir string) {
	prefix := dir + string(filepath.Separator)
	c.mu.Lock()
	defer c.mu.Unlock()
	for path, el := range c.entries {
		if strings.HasPrefix(path, prefix) {
			c.removeLocked(el)
		}
	}
}

func (c *fdCache) closeAll() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, el := range c.entries {
		e := el.Value.(*fdEntry)
		c.lru.Remove(el)
		delete(c.entries, e.path)
		e.evicted = true
		if e.refs == 0 {
			if err := e.f.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close %s: %w", e.path, err))
			}
		}
	}
	return errors.Join(errs...)
}
