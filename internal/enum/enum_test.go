package enum

import "testing"

type color string

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		wantErr string
	}{
		{"red", ""},
		{"blue", ""},
		{"Red", `"Red": want red, green or blue`},
		{"", `"": want red, green or blue`},
	} {
		v, err := Parse([]byte(tc.in), color("red"), "green", "blue")
		switch {
		case tc.wantErr == "" && (err != nil || string(v) != tc.in):
			t.Errorf("Parse(%q) = %q, %v", tc.in, v, err)
		case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
			t.Errorf("Parse(%q) error = %v, want %s", tc.in, err, tc.wantErr)
		}
	}
	if got := List(color("only")); got != "only" {
		t.Errorf("List of one = %q", got)
	}
}
