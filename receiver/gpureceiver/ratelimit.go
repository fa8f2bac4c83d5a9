package gpureceiver

import (
	"time"

	"go.uber.org/zap"
)

// warnLimiter logs a warning per key at most once per interval and says how
// many were swallowed in between. A GPU that fails the same call every scrape
// would otherwise write one line every collection interval forever.
// Not safe for concurrent use: the scraper controller calls scrape serially.
type warnLimiter struct {
	logger     *zap.Logger
	every      time.Duration
	now        func() time.Time
	last       map[string]time.Time
	suppressed map[string]int
}

func newWarnLimiter(logger *zap.Logger, every time.Duration, now func() time.Time) *warnLimiter {
	return &warnLimiter{
		logger:     logger,
		every:      every,
		now:        now,
		last:       make(map[string]time.Time),
		suppressed: make(map[string]int),
	}
}

// Warn logs msg unless the same key was logged less than every ago.
func (w *warnLimiter) Warn(key, msg string, fields ...zap.Field) {
	now := w.now()
	if t, seen := w.last[key]; seen && now.Sub(t) < w.every {
		w.suppressed[key]++
		return
	}
	if n := w.suppressed[key]; n > 0 {
		fields = append(fields, zap.Int("suppressed_repeats", n))
	}
	w.suppressed[key] = 0
	w.last[key] = now
	w.logger.Warn(msg, fields...)
}
