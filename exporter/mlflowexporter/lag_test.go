package mlflowexporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// Falling behind is said once, catching up once, whatever the number of
// writes in between.
func TestLagIsLoggedOncePerEpisode(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	clock := &fakeClock{now: t0}
	l := newLagTracker(zap.New(core), nopTelemetry(t), clock.Now)
	ctx := context.Background()
	write := func(at, pointAge time.Duration) {
		clock.Set(at)
		l.landed(ctx, t0.Add(at-pointAge).UnixMilli())
	}
	write(0, time.Second)
	for i := range 100 { // a backlog drains: writes of old data
		write(time.Duration(i)*time.Second, 5*time.Minute-time.Duration(i)*time.Second)
	}
	write(400*time.Second, 2*time.Second)
	write(401*time.Second, time.Second)

	all := logs.All()
	require.Len(t, all, 2)
	assert.Equal(t, zapcore.WarnLevel, all[0].Level)
	assert.Contains(t, all[0].Message, "MLflow export is behind")
	assert.Equal(t, 5*time.Minute, all[0].ContextMap()["lag"])
	assert.Equal(t, zapcore.InfoLevel, all[1].Level)
	assert.Contains(t, all[1].Message, "caught up")
	assert.Equal(t, 5*time.Minute, all[1].ContextMap()["max_lag"])
	assert.Equal(t, 400*time.Second, all[1].ContextMap()["behind_for"])
}
