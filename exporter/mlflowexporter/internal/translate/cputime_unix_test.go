//go:build unix

package translate

import (
	"syscall"
	"time"
)

// processCPUTime is the user+system CPU time of this process. Benchmarks
// divide by it rather than by wall time because the dev machines are shared
// and a benchmark often gets a fraction of a core.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
