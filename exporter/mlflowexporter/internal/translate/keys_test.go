package translate

import (
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// fnvSuffix is the hash suffix docs/mapping.md §2.4 specifies for a lossy
// key: "-" and 8 hex digits of FNV-1a over the original text.
func fnvSuffix(orig string) string {
	h := fnv.New32a()
	h.Write([]byte(orig))
	return fmt.Sprintf("-%08x", h.Sum32())
}

func TestSanitizeKey(t *testing.T) {
	a := strings.Repeat
	tests := []struct {
		name, in, want string
	}{
		{"plain", "loss", "loss"},
		{"path", "train/loss", "train/loss"},
		{"all allowed punctuation", "a b-c.d_e/f", "a b-c.d_e/f"},
		{"unicode letters and digits", "größe/损失/٣", "größe/损失/٣"},
		{"dots inside a segment", "a/.b/c..d/...e", "a/.b/c..d/...e"},
		{"colon", "a:b", "a_b" + fnvSuffix("a:b")},
		{"braces and quotes", `m{a="b"}`, "m_a__b__" + fnvSuffix(`m{a="b"}`)},
		{"invalid utf8", "a\xffb", "a_b" + fnvSuffix("a\xffb")},
		{"nul", "a\x00b", "a_b" + fnvSuffix("a\x00b")},
		{"emoji", "loss🙂", "loss_" + fnvSuffix("loss🙂")},
		{"empty", "", "_" + fnvSuffix("")},
		{"only slash", "/", "_" + fnvSuffix("/")},
		{"leading slash", "/a", "a" + fnvSuffix("/a")},
		{"trailing slash", "a/", "a" + fnvSuffix("a/")},
		{"doubled slash", "a//b", "a/b" + fnvSuffix("a//b")},
		{"dot", ".", "_" + fnvSuffix(".")},
		{"dotdot", "..", "__" + fnvSuffix("..")},
		{"dot segment", "a/./b", "a/_/b" + fnvSuffix("a/./b")},
		{"dotdot segment", "a/../b", "a/__/b" + fnvSuffix("a/../b")},
		// MLflow's path_not_unique rejects every key starting with "..".
		{"leading dotdot prefix", "..a/b", "__a/b" + fnvSuffix("..a/b")},
		{"leading dots", "...", "__." + fnvSuffix("...")},
		{"250 chars kept", a("k", 250), a("k", 250)},
		{"250 multibyte chars kept", a("ä", 250), a("ä", 250)},
		{"251 chars cut", a("k", 251), a("k", 241) + fnvSuffix(a("k", 251))},
		// The hash suffix must fit in 250 characters as well.
		{"lossy and 245 chars", a("k", 244) + ":", a("k", 241) + fnvSuffix(a("k", 244)+":")},
		{"lossy and 241 chars", a("k", 240) + ":", a("k", 240) + "_" + fnvSuffix(a("k", 240)+":")},
		{"long and lossy", a("k:", 200), a("k_", 121)[:241] + fnvSuffix(a("k:", 200))},
		{"cut at a slash", a("a", 240) + "/" + a("b", 20), a("a", 240) + fnvSuffix(a("a", 240)+"/"+a("b", 20))},
		{"cut leaves dot segment", a("a", 239) + "/." + a("b", 20), a("a", 239) + fnvSuffix(a("a", 239)+"/."+a("b", 20))},
		{"cut leaves dotdot segment", a("a", 238) + "/.." + a("b", 20), a("a", 238) + fnvSuffix(a("a", 238)+"/.."+a("b", 20))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SanitizeKey(tt.in)
			assert.Equal(t, tt.want, got)
			mlflowAccepts(t, got)
			assert.Equal(t, got, SanitizeKey(tt.in), "not deterministic")
		})
	}
}

// Keys that MLflow accepts as given must come back byte for byte.
func TestSanitizeKeyKeepsValidKeys(t *testing.T) {
	for _, k := range []string{"loss", "a/b/c", "x y", "-", "_", "a.b", ".a", "a/.b", "Ω/ß", strings.Repeat("z", 250)} {
		require.NoError(t, mlflow.ValidateKey(k))
		assert.Equal(t, k, SanitizeKey(k))
	}
}

func TestKeyFolding(t *testing.T) {
	tests := []struct {
		name  string
		style KeyStyle
		attrs map[string]any
		want  string
	}{
		{"key_value no attrs", KeyStyleKeyValue, nil, "loss"},
		{"key_value one", KeyStyleKeyValue, map[string]any{"split": "val"}, "loss/split_val"},
		{"key_value sorted by name", KeyStyleKeyValue, map[string]any{"b": "2", "a": "1"}, "loss/a_1/b_2"},
		{"key_value typed values", KeyStyleKeyValue, map[string]any{"rank": int64(3), "ok": true, "lr": 0.5}, "loss/lr_0.5/ok_true/rank_3"},
		{"key_value slash in value", KeyStyleKeyValue, map[string]any{"a": "x/y"}, "loss/a_x_y" + fnvSuffix("loss\x00a\x00x/y")},
		{"key_value slash in name", KeyStyleKeyValue, map[string]any{"a/b": "x"}, "loss/a_b_x" + fnvSuffix("loss\x00a/b\x00x")},
		{"key_value empty value", KeyStyleKeyValue, map[string]any{"a": ""}, "loss/a__" + fnvSuffix("loss\x00a\x00")},
		{"key_value colon", KeyStyleKeyValue, map[string]any{"host": "h:1"}, "loss/host_h_1" + fnvSuffix("loss\x00host\x00h:1")},
		{"key_value dot value is fine", KeyStyleKeyValue, map[string]any{"a": "."}, "loss/a_."},
		{"key_value dot name", KeyStyleKeyValue, map[string]any{".": "x"}, "loss/__x" + fnvSuffix("loss\x00.\x00x")},
		{"step never folded", KeyStyleKeyValue, map[string]any{"step": int64(3), "split": "val"}, "loss/split_val"},
		{"overflow=false never folded", KeyStyleKeyValue, map[string]any{"otel.metric.overflow": false}, "loss"},
		{"ignored attribute", KeyStyleKeyValue, map[string]any{"pid": int64(9), "split": "val"}, "loss/split_val"},
		{"value one", KeyStyleValue, map[string]any{"split": "val"}, "loss/val"},
		{"value sorted by name", KeyStyleValue, map[string]any{"b": "2", "a": "1"}, "loss/1/2"},
		{"value dot", KeyStyleValue, map[string]any{"a": "."}, "loss/_" + fnvSuffix("loss\x00a\x00.")},
		{"value dotdot", KeyStyleValue, map[string]any{"a": ".."}, "loss/__" + fnvSuffix("loss\x00a\x00..")},
		{"value empty", KeyStyleValue, map[string]any{"a": ""}, "loss/_" + fnvSuffix("loss\x00a\x00")},
		{"value slash", KeyStyleValue, map[string]any{"a": "x/y"}, "loss/x_y" + fnvSuffix("loss\x00a\x00x/y")},
		{"ignore", KeyStyleIgnore, map[string]any{"split": "val", "a": "x/y"}, "loss"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := defaultOptions()
			opts.KeyStyle = tt.style
			opts.IgnoreAttributes = []string{"pid"}
			rd, _ := singleGauge(t, opts, "loss", tt.attrs)
			require.Len(t, rd.Points, 1)
			assert.Equal(t, tt.want, rd.Points[0].Key)
		})
	}
}

func TestKeyFoldingLongKeyIsCutAndHashed(t *testing.T) {
	long := strings.Repeat("v", 300)
	rd, _ := singleGauge(t, defaultOptions(), "loss", map[string]any{"a": long})
	key := rd.Points[0].Key
	assert.Equal(t, ("loss/a_" + long)[:241]+fnvSuffix("loss\x00a\x00"+long), key)
	assert.Len(t, []rune(key), mlflow.MaxKeyLength)
}

// Distinct series must land in distinct keys (docs/mapping.md §2.4), also
// when one translator sees them all and its key cache is warm.
func TestDistinctSeriesDistinctKeys(t *testing.T) {
	series := []struct {
		name  string
		attrs map[string]any
	}{
		{"loss", nil},
		{"loss", map[string]any{"a": "x/y"}},
		{"loss", map[string]any{"a": "x_y"}},
		{"loss", map[string]any{"a": "x:y"}},
		{"loss", map[string]any{"a/x": "y"}},
		{"loss", map[string]any{"a": "1", "b": "2"}},
		{"loss", map[string]any{"a": "1\x00b\x002"}},
		{"loss", map[string]any{"a": "1/b_2"}},
		{"loss", map[string]any{"a": ""}},
		{"loss", map[string]any{"a": "_"}},
		{"loss:x", nil},
		{"loss_x", nil},
		{"loss/", nil},
		{"/loss", nil},
		{"loss\x00", nil},
		{"loss\x00a\x00x/y", nil},
	}
	for _, style := range []KeyStyle{KeyStyleKeyValue, KeyStyleValue} {
		t.Run(string(style), func(t *testing.T) {
			opts := defaultOptions()
			opts.KeyStyle = style
			tr := New(opts)
			// Twice: the second pass is served from the key cache.
			for pass := 0; pass < 2; pass++ {
				seen := map[string]int{}
				for i, s := range series {
					if style == KeyStyleValue && i == 5 {
						continue // equal values of different attribute sets collide by design in this style
					}
					md := pmetric.NewMetrics()
					_, ms := newResource(md, map[string]any{"service.name": "svc"})
					addPoint(addGauge(ms, s.name), 1, 1, s.attrs)
					var st Stats
					rd := tr.Resource(md.ResourceMetrics().At(0), testNow, &st)
					require.Len(t, rd.Points, 1)
					key := rd.Points[0].Key
					mlflowAccepts(t, key)
					if j, dup := seen[key]; dup {
						t.Fatalf("pass %d: series %d %v and %d %v share key %q", pass, j, series[j], i, s, key)
					}
					seen[key] = i
				}
			}
		})
	}
}

func FuzzSanitizeKey(f *testing.F) {
	for _, s := range []string{"loss", "train/loss", "a:b", "", "/", "..", "..a", "a//b/./c", "größe", "a\xff", strings.Repeat("x/", 130)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := SanitizeKey(s)
		mlflowAccepts(t, got)
		if again := SanitizeKey(s); again != got {
			t.Fatalf("SanitizeKey(%q) not deterministic: %q then %q", s, got, again)
		}
		if mlflow.ValidateKey(s) == nil && !strings.HasPrefix(s, "..") && got != s {
			t.Fatalf("valid key %q changed to %q", s, got)
		}
	})
}

func TestFoldedKeysThatMeetGetDistinctKeys(t *testing.T) {
	tr := New(Options{StepAttribute: "step", KeyStyle: KeyStyleKeyValue})
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr(AttrRunName, "r")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	add := func(name string, attrs map[string]any) {
		m := ms.AppendEmpty()
		m.SetName(name)
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetDoubleValue(1)
		_ = dp.Attributes().FromRaw(attrs)
	}
	add("loss", map[string]any{"a_b": "c"})
	add("loss", map[string]any{"a": "b_c"})
	add("loss/a_b_c", nil)
	var st Stats
	rd := tr.Resource(rm, time.Unix(1, 0), &st)
	seen := map[string]bool{}
	for _, p := range rd.Points {
		if seen[p.Key] {
			t.Fatalf("two series share key %q", p.Key)
		}
		seen[p.Key] = true
		if err := mlflow.ValidateKey(p.Key); err != nil {
			t.Fatal(err)
		}
	}
	if !seen["loss/a_b_c"] {
		t.Errorf("the first series keeps the plain key: %v", seen)
	}
	// Stable: the same series get the same keys again.
	rd2 := tr.Resource(rm, time.Unix(1, 0), &st)
	for i := range rd.Points {
		if rd.Points[i].Key != rd2.Points[i].Key {
			t.Errorf("key of series %d changed: %q -> %q", i, rd.Points[i].Key, rd2.Points[i].Key)
		}
	}
}
