package runspool

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

type nopHost struct{}

func (nopHost) GetExtensions() map[component.ID]component.Component { return nil }

// fileClient is a real file_storage (bbolt) client in dir.
func fileClient(tb testing.TB, dir string) storage.Client {
	tb.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(tb, err)
	require.NoError(tb, ext.Start(context.Background(), nopHost{}))
	c, err := ext.(storage.Extension).GetClient(context.Background(), component.KindExporter, component.MustNewID("mlflow"), "metrics_spool")
	require.NoError(tb, err)
	tb.Cleanup(func() {
		_ = c.Close(context.Background())
		_ = ext.Shutdown(context.Background())
	})
	return c
}

// BenchmarkStoreAppendRelease: one record stored and one released (the
// spool's two writes per flushed partition) with `held` records live. The
// cost must not grow with held: exporterhelper's persistent queue rewrites
// its list of in-flight requests on each operation, which is what the
// spool replaced.
func BenchmarkStoreAppendRelease(b *testing.B) {
	data := make([]byte, 450) // ten training points
	for _, held := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("held=%d", held), func(b *testing.B) {
			s := newStore(fileClient(b, b.TempDir()))
			ctx := context.Background()
			var live []*record
			for i := range held {
				r := &record{key: fmt.Sprint("run-", i%1000), items: 10, data: data, first: time.Now()}
				s.assign(r)
				live = append(live, r)
			}
			for i := 0; i < held; i += 1000 {
				require.NoError(b, s.write(ctx, live[i:min(i+1000, held)], nil))
			}
			b.ResetTimer()
			for i := range b.N {
				r := &record{key: "run-0", items: 10, data: data, first: time.Now()}
				s.assign(r)
				r.order = r.seq
				require.NoError(b, s.write(ctx, []*record{r}, nil))
				// Release the oldest, as a sent request does.
				require.NoError(b, s.write(ctx, nil, live[i%len(live):i%len(live)+1]))
				live[i%len(live)] = r
			}
		})
	}
}
