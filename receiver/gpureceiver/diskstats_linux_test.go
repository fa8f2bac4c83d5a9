//go:build linux

package gpureceiver

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/shirou/gopsutil/v4/common"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sampleDiskstats = ` 259       0 nvme0n1 1000 10 2048 500 2000 20 4096 900 0 1200 1400 0 0 0 0 0 0
 259       1 nvme0n1p1 10 0 16 1 0 0 0 0 0 1 1 0 0 0 0 0 0
   7       0 loop0 3 0 8 0 0 0 0 0 0 0 0 0 0 0 0
`

func TestParseDiskstats(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]disk.IOCountersStat
		wantErr string
	}{
		{
			name: "sectors are 512 bytes",
			in:   sampleDiskstats,
			want: map[string]disk.IOCountersStat{
				"nvme0n1":   {Name: "nvme0n1", ReadBytes: 2048 * 512, WriteBytes: 4096 * 512},
				"nvme0n1p1": {Name: "nvme0n1p1", ReadBytes: 16 * 512},
				"loop0":     {Name: "loop0", ReadBytes: 8 * 512},
			},
		},
		{name: "empty", in: "\n", want: map[string]disk.IOCountersStat{}},
		{name: "short line", in: "8 0 sda 1 2\n", wantErr: "short line"},
		{name: "garbage number", in: "8 0 sda 1 2 x 4 5 6 7 8\n", wantErr: "sectors read of sda"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDiskstats([]byte(tt.in))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestReadDiskIOHonoursHostProc(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "diskstats"), []byte(sampleDiskstats), 0o600))
	ctx := context.WithValue(context.Background(), common.EnvKey, common.EnvMap{common.HostProcEnvKey: dir})
	got, err := readDiskIO(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(4096*512), got["nvme0n1"].WriteBytes)

	// Same numbers as gopsutil on the real /proc (they share the source).
	if _, err := os.Stat("/proc/diskstats"); err == nil {
		mine, err := readDiskIO(context.Background())
		require.NoError(t, err)
		theirs, err := disk.IOCountersWithContext(context.Background())
		require.NoError(t, err)
		for name, c := range theirs {
			assert.InDelta(t, c.ReadBytes, mine[name].ReadBytes, 1<<20, name)
		}
	}
}
