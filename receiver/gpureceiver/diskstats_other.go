//go:build !linux

package gpureceiver

import "github.com/shirou/gopsutil/v4/disk"

var readDiskIO = disk.IOCountersWithContext
