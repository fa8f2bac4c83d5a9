package searchfilter

import "testing"

func TestPageToken(t *testing.T) {
	for _, off := range []int{0, 1, 1000, 123456} {
		tok := CreatePageToken(off)
		got, err := ParsePageToken(tok)
		if err != nil || got != off {
			t.Errorf("ParsePageToken(CreatePageToken(%d)) = %d, %v", off, got, err)
		}
	}
	// MLflow's own encoding of {"offset": 1}, json.dumps with its space.
	if got := CreatePageToken(1); got != "eyJvZmZzZXQiOiAxfQ==" {
		t.Errorf("CreatePageToken(1) = %s", got)
	}
	for _, bad := range []string{"!!!", "bm90IGpzb24=" /* "not json" */, "eyJhIjogMX0=" /* {"a": 1} */, "eyJvZmZzZXQiOiAtMX0=" /* offset -1 */} {
		if _, err := ParsePageToken(bad); err == nil {
			t.Errorf("ParsePageToken(%q) succeeded", bad)
		}
	}
	if n, err := ParsePageToken(""); n != 0 || err != nil {
		t.Errorf("ParsePageToken(\"\") = %d, %v", n, err)
	}
}
