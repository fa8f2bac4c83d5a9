//go:build unix

package restclient

import (
	"syscall"
	"time"
)

// processCPUTime is the user+system CPU time of the whole process. On a
// shared machine it measures cost per core where wall time measures the
// neighbours' load.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
