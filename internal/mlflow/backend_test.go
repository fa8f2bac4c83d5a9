package mlflow

import (
	"path/filepath"
	"testing"
)

func TestServerBackendID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:5000", "http://127.0.0.1:5000"},
		{"http://127.0.0.1:5000/", "http://127.0.0.1:5000"},
		{"HTTPS://user:s3cret@MLflow.example.com/prefix/?token=x#f", "https://mlflow.example.com/prefix"},
		{"localhost:5000", ""},
		{"databricks", ""},
	}
	for _, tt := range tests {
		if got := ServerBackendID(tt.in); got != tt.want {
			t.Errorf("ServerBackendID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFileBackendID(t *testing.T) {
	abs, err := filepath.Abs("mlruns")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := FileBackendID("mlruns"), "file://"+filepath.ToSlash(abs); got != want {
		t.Errorf("FileBackendID = %q, want %q", got, want)
	}
}
