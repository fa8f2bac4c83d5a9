package gpureceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestWarnLimiter(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	now := testStart
	w := newWarnLimiter(zap.New(core), time.Minute, func() time.Time { return now })

	steps := []struct {
		advance time.Duration
		key     string
		logged  bool
	}{
		{0, "a", true},
		{10 * time.Second, "a", false},
		{10 * time.Second, "b", true}, // keys are independent
		{10 * time.Second, "a", false},
		{31 * time.Second, "a", true}, // a minute after the first
		{time.Second, "a", false},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		before := logs.Len()
		w.Warn(s.key, "problem", zap.String("k", s.key))
		assert.Equal(t, s.logged, logs.Len() == before+1, "step %d", i)
	}
	require.Equal(t, 3, logs.Len())
	third := logs.All()[2].ContextMap()
	assert.Equal(t, int64(2), third["suppressed_repeats"], "the repeat count tells what was swallowed")
	_, first := logs.All()[0].ContextMap()["suppressed_repeats"]
	assert.False(t, first)
}
