package runs

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/translate"
)

// HasPID: the host pid as before; the pid in the process's own namespace
// when the run reported it without a container.id or with the point's.
func TestHasPIDAcrossPIDNamespaces(t *testing.T) {
	m := NewManager(nil, Settings{})
	r := newRun("r", "1", t0ms, translate.Identity{ExperimentName: "e", RunName: "r"}, true, 0)

	m.Observe(r, "node-1", 42, "")
	assert.True(t, m.HasPID(r, 42, 0, ""), "host pid")
	assert.True(t, m.HasPID(r, 12345, 42, "X"), "no container named: the namespaced pid decides")
	assert.True(t, m.HasPID(r, 12345, 42, ""))
	assert.False(t, m.HasPID(r, 12345, 43, "X"))
	assert.False(t, m.HasPID(r, 12345, 0, ""))

	// A second process of the run, in container Y: the first one's pid
	// (reported without a container) still matches anywhere.
	m.Observe(r, "node-1", 7, "Y")
	assert.True(t, m.HasPID(r, 12345, 42, "X"))
	assert.True(t, m.HasPID(r, 900, 7, "Y"))
	assert.False(t, m.HasPID(r, 901, 7, "X"), "pid 7 was reported from container Y")
	assert.False(t, m.HasPID(r, 902, 7, ""), "a point without container.id: not this container's for sure")
	assert.True(t, m.HasPID(r, 7, 0, ""), "host pid 7: as before")

	c := newRun("c", "1", t0ms, translate.Identity{ExperimentName: "e", RunName: "c"}, true, 0)
	m.Observe(c, "node-1", 1, "X")
	m.Observe(c, "node-1", 1, "Z") // another pod of the same run, also pid 1
	assert.True(t, m.HasPID(c, 100, 1, "X"))
	assert.True(t, m.HasPID(c, 101, 1, "Z"))
	assert.False(t, m.HasPID(c, 102, 1, "Y"))
	m.Observe(c, "", 0, "Y") // no pid: nothing recorded
	assert.False(t, m.HasPID(c, 102, 1, "Y"))
}
