package mlflowexporter

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestShutdownDropsAreExplained(t *testing.T) {
	shutdownErr := fmt.Errorf("interrupted due to shutdown: %w", errors.New("context canceled"))
	tests := []struct {
		name       string
		persistent bool
		err        error
		level      zapcore.Level
		message    string
	}{
		{"persistent queue keeps it", true, shutdownErr, zapcore.InfoLevel, "stays in the persistent sending queue"},
		{"memory queue loses it", false, shutdownErr, zapcore.WarnLevel, "in-memory sending queue loses this data"},
		{"other failures unchanged", true, errors.New("permanent"), zapcore.ErrorLevel, droppingDataMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			logger := explainShutdownDrops(zap.New(core, zap.AddStacktrace(zapcore.ErrorLevel)), tt.persistent)
			logger.With(zap.String("component", "mlflow")).Error(droppingDataMessage+" Try enabling sending_queue to survive temporary failures.",
				zap.Error(tt.err), zap.Int("dropped_items", 3))
			all := logs.All()
			require.Len(t, all, 1)
			assert.Equal(t, tt.level, all[0].Level)
			assert.Contains(t, all[0].Message, tt.message)
			if tt.level != zapcore.ErrorLevel {
				assert.Empty(t, all[0].Stack, "no stack trace for an orderly shutdown")
			}
			assert.Equal(t, "mlflow", all[0].ContextMap()["component"])
		})
	}
}
