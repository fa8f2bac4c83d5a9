package conformance

import "testing"

// An experiment id is replaced only where it stands alone: a hex run id
// that starts with its digits stays whole (this made the replay flaky).
func TestReplaceNumericID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"mlflow-artifacts:/29/29f79bc01443bcb67884553581245f86/artifacts", "mlflow-artifacts:/<exp>/29f79bc01443bcb67884553581245f86/artifacts"},
		{"29", "<exp>"},
		{"mlflow-artifacts:/290/x", "mlflow-artifacts:/290/x"},
	}
	for _, tt := range tests {
		if got := replaceNumericID(tt.in, "29", "<exp>"); got != tt.want {
			t.Errorf("replaceNumericID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
