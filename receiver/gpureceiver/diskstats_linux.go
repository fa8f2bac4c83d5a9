//go:build linux

package gpureceiver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/shirou/gopsutil/v4/disk"
)

// diskstatsSector is the unit of /proc/diskstats sector counts: always 512
// bytes, whatever the device's real sector size.
const diskstatsSector = 512

// readDiskIO reads /proc/diskstats directly. gopsutil's IOCounters also
// looks up every device's serial number and label through udev and /sys,
// which tripled the cost of a host scrape for two numbers we do not use.
// HOST_PROC is honoured (context first, then environment) like gopsutil does.
func readDiskIO(ctx context.Context, _ ...string) (map[string]disk.IOCountersStat, error) {
	data, err := os.ReadFile(filepath.Join(procRoot(ctx), "diskstats"))
	if err != nil {
		return nil, err
	}
	return parseDiskstats(data)
}

// parseDiskstats extracts bytes read and written per device from the
// /proc/diskstats format: major minor name reads merged sectors_read ms
// writes merged sectors_written ...
func parseDiskstats(data []byte) (map[string]disk.IOCountersStat, error) {
	out := make(map[string]disk.IOCountersStat)
	for line := range bytes.Lines(data) {
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 10 {
			return nil, fmt.Errorf("parse diskstats: short line %q", bytes.TrimSpace(line))
		}
		read, err := strconv.ParseUint(string(f[5]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse diskstats sectors read of %s: %w", f[2], err)
		}
		written, err := strconv.ParseUint(string(f[9]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse diskstats sectors written of %s: %w", f[2], err)
		}
		name := string(f[2])
		out[name] = disk.IOCountersStat{Name: name, ReadBytes: read * diskstatsSector, WriteBytes: written * diskstatsSector}
	}
	return out, nil
}
