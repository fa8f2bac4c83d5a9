//go:build !unix

package translate

import "time"

// processCPUTime is not measured here; benchmarks then report wall-time rates only.
func processCPUTime() time.Duration { return 0 }
