package mlflowexporter

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestDefaultRetryOutlastsOutages: with exporterhelper's default
// max_elapsed_time (5 minutes) a tracking server down for longer lost every
// queued point; by default the exporter retries until the queue is full.
func TestDefaultRetryOutlastsOutages(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.True(t, cfg.RetryConfig.Enabled)
	assert.Zero(t, cfg.RetryConfig.MaxElapsedTime, "retries must not give up on a long outage")
	assert.Positive(t, cfg.RetryConfig.MaxInterval, "retries back off")
	assert.Positive(t, cfg.RetryConfig.RandomizationFactor, "retries are jittered, so replicas do not retry in step")
}
