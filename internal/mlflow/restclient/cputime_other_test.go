//go:build !unix

package restclient

import "time"

// processCPUTime is unavailable here; benchmarks then report wall time only.
func processCPUTime() time.Duration { return 0 }
