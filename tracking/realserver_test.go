package tracking

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EnvTrackingTestURI names an external, real MLflow tracking server
// (http://127.0.0.1:5000, started with --serve-artifacts). When it is set,
// the tests built on newEnv that only need a plain server run against it,
// each in an experiment of its own, and read back through its REST API;
// tests that need fault injection or the test server's internals skip and
// say why. Unset (CI), they use the project's test server.
const EnvTrackingTestURI = "TRACKING_MLFLOW_URI"

func realTrackingURI() string { return strings.TrimRight(os.Getenv(EnvTrackingTestURI), "/") }

// skipOnRealServer skips t when the tests target an external server; why
// says what the test needs ("needs fault injection: ...").
func skipOnRealServer(t testing.TB, why string) {
	t.Helper()
	if realTrackingURI() != "" {
		t.Skip(why)
	}
}

// uniqueExperiment is base made unique to this test and moment: a real
// server keeps the runs of earlier test runs.
func uniqueExperiment(t testing.TB, base string) string {
	if base == "" {
		base = "default"
	}
	return fmt.Sprintf("tracking-%s-%s-%s", base, strings.ReplaceAll(t.Name(), "/", "."), strconv.FormatInt(time.Now().UnixNano(), 36))
}
