package mlflow

import "testing"

func TestRedactURI(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://user:pw@host:5000/prefix", "https://host:5000/prefix"},
		{"https://token@host", "https://host"},
		{"http://host", "http://host"},
		{"file:./mlruns", "file:./mlruns"},
		{"./mlruns", "./mlruns"},
		{"databricks://profile", "databricks://profile"},
		{"https://host/api?token=s3cret&x=1", "https://host/api?token=redacted&x=redacted"},
		{"http://us er:p@ss@host:1/%zz", "http://host:1/%zz"},
	} {
		if got := RedactURI(tc.in); got != tc.want {
			t.Errorf("RedactURI(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTruncateRunes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "abc"},
		{"ééé", 2, "éé"},
		{"日本語テキスト", 3, "日本語"},
		{"", 0, ""},
		{"a", 0, ""},
	} {
		if got := TruncateRunes(tc.in, tc.n); got != tc.want {
			t.Errorf("TruncateRunes(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
	long := string(make([]byte, 100))
	if got := Quote64(long); len(got) != 67 {
		t.Errorf("Quote64 of 100 bytes: %d bytes, want 64+3", len(got))
	}
	if got := Quote64("short"); got != "short" {
		t.Errorf("Quote64(short) = %q", got)
	}
}
