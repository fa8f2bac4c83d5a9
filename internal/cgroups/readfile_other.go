//go:build !linux

package cgroups

import (
	"io"
	"os"
	"slices"
)

// readFile reads a small file of /proc or /sys/fs/cgroup with errors
// wrapped. Their sizes read 0 or 4096, so os.ReadFile's fstat for a size
// hint is a wasted call: this reads into a 1 KiB buffer, grown as needed,
// until EOF.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileError(path, err)
	}
	defer f.Close()
	b := make([]byte, 0, 1024)
	for {
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, fileError(path, err)
		}
		if len(b) == cap(b) {
			b = slices.Grow(b, len(b))
		}
	}
}

// heldFile holds nothing where there is no cgroupfs: each read opens the
// file afresh. Its errors are os's, already naming the call and the path.
type heldFile struct{}

func (f *heldFile) read(path string, _ *[]byte, _ bool) ([]byte, string, error) {
	b, err := os.ReadFile(path)
	return b, "", err
}

func (f *heldFile) close() {}

// openFileLimit does not bound a reader that holds nothing.
func openFileLimit() int { return 1 << 30 }

func (f *heldFile) isHeld() bool { return false }

func (f *heldFile) onCgroupfs() bool { return false }
