package gpureceiver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/metadata"
)

// TestDocsListEveryMetric keeps docs/gpureceiver.md in step with metadata:
// each metric needs a table row with its unit and default.
func TestDocsListEveryMetric(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "gpureceiver.md"))
	require.NoError(t, err)
	rows := map[string]string{}
	for line := range strings.Lines(string(doc)) {
		if strings.HasPrefix(line, "| `") {
			name, _, _ := strings.Cut(strings.TrimPrefix(line, "| `"), "`")
			rows[name] = line
		}
	}
	for id := range metadata.MetricCount {
		d := metadata.Descriptors[id]
		row, ok := rows[d.Name]
		if !assert.True(t, ok, "%s is not documented", d.Name) {
			continue
		}
		assert.Contains(t, row, "| `"+d.Unit+"` |", d.Name)
		def := "| no |"
		if d.DefaultEnabled {
			def = "| yes |"
		}
		assert.Contains(t, row, def, d.Name)
	}
}
