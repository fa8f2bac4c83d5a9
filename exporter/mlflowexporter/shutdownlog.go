package mlflowexporter

import (
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// exporterhelper's queue logs every failed export as an error with a
// stack trace, "Exporting failed. Dropping data.", also when the failure is
// the collector shutting down mid-export. With a persistent queue that is
// false: the request stays in storage and is sent after the restart. The
// rewrite says what happens to the data instead.
const droppingDataMessage = "Exporting failed. Dropping data."

func explainShutdownDrops(logger *zap.Logger, persistent bool) *zap.Logger {
	return logger.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return shutdownExplainer{c, persistent} }))
}

type shutdownExplainer struct {
	zapcore.Core
	persistent bool
}

func (c shutdownExplainer) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if strings.HasPrefix(e.Message, droppingDataMessage) {
		// Routed through Write below, where the error field can be read.
		if c.Enabled(e.Level) {
			return ce.AddCore(e, c)
		}
		return ce
	}
	return c.Core.Check(e, ce)
}

func (c shutdownExplainer) Write(e zapcore.Entry, fields []zapcore.Field) error {
	if strings.HasPrefix(e.Message, droppingDataMessage) && interruptedByShutdown(fields) {
		e.Stack = ""
		if c.persistent {
			e.Level = zapcore.InfoLevel
			e.Message = "Export interrupted by shutdown: the data stays in the persistent sending queue and is sent after the collector restarts"
		} else {
			e.Level = zapcore.WarnLevel
			e.Message = "Export interrupted by shutdown: the in-memory sending queue loses this data (set sending_queue.storage to keep it across restarts)"
		}
	}
	return c.Core.Write(e, fields)
}

func (c shutdownExplainer) With(fields []zapcore.Field) zapcore.Core {
	return shutdownExplainer{c.Core.With(fields), c.persistent}
}

func interruptedByShutdown(fields []zapcore.Field) bool {
	for _, f := range fields {
		if err, ok := f.Interface.(error); ok && f.Type == zapcore.ErrorType && strings.Contains(err.Error(), "interrupted due to shutdown") {
			return true
		}
	}
	return false
}
