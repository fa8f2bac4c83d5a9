package filestore

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		runCrashChild(dir)
		return
	}
	goleak.VerifyTestMain(m)
}

// stepClock starts at a fixed instant and advances 1 ms per reading, so a
// scripted sequence of calls yields the same times on every run.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func newStepClock() *stepClock {
	return &stepClock{now: time.UnixMilli(1_795_650_496_000)}
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond)
	return c.now
}

// seqIDs hands out predictable ids of MLflow's shapes.
type seqIDs struct {
	mu               sync.Mutex
	runs, exps, name int
}

func (g *seqIDs) NewRunID() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.runs++
	// A hex letter up front: an all-digit id is a plain scalar to PyYAML but
	// a number to yaml.v3's untyped decoding, which the independent reader uses.
	b := [16]byte{0: 0xfe}
	b[15] = byte(g.runs)
	b[14] = byte(g.runs >> 8)
	return uuid4Hex(b)
}

func (g *seqIDs) NewExperimentID() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.exps++
	return fmt.Sprintf("%d", 100000000000000000+g.exps)
}

func (g *seqIDs) NewRunName() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.name++
	return fmt.Sprintf("generated-run-%d", g.name)
}

func openTest(t testing.TB, opts ...Option) *Store {
	t.Helper()
	opts = append([]Option{WithClock(newStepClock().Now), WithIDGenerator(&seqIDs{})}, opts...)
	s, err := Open(t.TempDir(), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func mustExperiment(t testing.TB, s *Store, name string, tags ...mlflow.Tag) string {
	t.Helper()
	id, err := s.CreateExperiment(context.Background(), name, tags)
	require.NoError(t, err)
	return id
}

func mustRun(t testing.TB, s *Store, req mlflow.CreateRunRequest) string {
	t.Helper()
	r, err := s.CreateRun(context.Background(), req)
	require.NoError(t, err)
	return r.Info.RunID
}

func requireCode(t testing.TB, err error, code string) {
	t.Helper()
	require.Error(t, err)
	var apiErr *mlflow.APIError
	require.ErrorAs(t, err, &apiErr, "error %v", err)
	require.Equal(t, code, apiErr.Code, "error %v", err)
}

// len is the number of cached descriptors.
func (c *fdCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
