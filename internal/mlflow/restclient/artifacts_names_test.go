package restclient_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// oddNames survive the proxy on real MLflow 2.9.2 and 3.0.0 servers
// (checked with TestRealServerLogModelAndImages in tracking): every segment
// is percent-encoded, so '%', ' ', '?' and non-ASCII reach the server as
// written. Without url.PathEscape per segment, "?" would cut the path at a
// query and "%zz" would not even parse as a URL.
var oddNames = []string{"odd/50% off.txt", "odd/a b?c.txt", "odd/é ü.txt", "odd/100%zz.txt", "odd/sp ace/x+y=z&w;.txt"}

func TestArtifactNamesAreEscapedPerSegment(t *testing.T) {
	s, c, run := artifactRun(t)
	a := c.Artifacts(fastRetry)
	for _, n := range oddNames {
		if err := a.UploadArtifact(t.Context(), run, n, mlflow.BytesSource([]byte("bytes of "+n))); err != nil {
			t.Fatalf("upload %q: %v", n, err)
		}
	}
	root := strings.TrimPrefix(run.ArtifactURI, "mlflow-artifacts:/")
	for _, n := range oddNames {
		got, ok := s.Artifact(root + "/" + n)
		if !ok || string(got) != "bytes of "+n {
			t.Errorf("server holds %q = %q, %v; want the exact name and bytes", n, got, ok)
		}
		// Download through the proxy, each segment escaped.
		segs := strings.Split(root+"/"+n, "/")
		for i := range segs {
			segs[i] = url.PathEscape(segs[i])
		}
		resp, err := http.Get(s.URL() + "/api/2.0/mlflow-artifacts/artifacts/" + strings.Join(segs, "/"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "bytes of "+n {
			t.Errorf("download %q: %d %q", n, resp.StatusCode, body)
		}
	}
	files, err := a.ListArtifacts(t.Context(), run, "odd")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, f := range files {
		listed = append(listed, f.Path)
	}
	want := []string{"odd/100%zz.txt", "odd/50% off.txt", "odd/a b?c.txt", "odd/sp ace", "odd/é ü.txt"}
	if strings.Join(listed, "|") != strings.Join(want, "|") {
		t.Errorf("listed %q, want %q", listed, want)
	}
}

// A real server unquotes the path until it stops changing
// (validate_path_is_safe), so "%" followed by two hex digits never survives,
// however the client encodes it; MLflow's own stepped-image names are
// affected. WithMLflowPathDecoding imitates that, and 3.0's re-escaping of
// control characters with WithLoggedModels.
func TestArtifactNamesUnquotedLikeMLflow(t *testing.T) {
	for _, tc := range []struct {
		v3   bool
		want []string
	}{
		{false, []string{"images/k%step\x10%timestamp\x17%u.png", "images/pA.png"}},
		{true, []string{"images/k%step%10%timestamp%17%u.png", "images/pA.png"}},
	} {
		opts := []mlflowtest.Option{mlflowtest.WithMLflowPathDecoding()}
		if tc.v3 {
			opts = append(opts, mlflowtest.WithLoggedModels())
		}
		s := mlflowtest.Start(t, opts...)
		c := newClient(t, restclient.Config{TrackingURI: s.URL()})
		r, err := c.CreateRun(t.Context(), mlflow.CreateRunRequest{ExperimentID: "0", RunName: "a"})
		if err != nil {
			t.Fatal(err)
		}
		a := c.Artifacts(fastRetry)
		for _, n := range []string{"images/k%step%10%timestamp%17%u.png", "images/p%41.png"} {
			if err := a.UploadArtifact(t.Context(), &r.Info, n, mlflow.BytesSource([]byte("x"))); err != nil {
				t.Fatal(err)
			}
		}
		files, err := a.ListArtifacts(t.Context(), &r.Info, "images")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range files {
			got = append(got, f.Path)
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("v3=%v: stored %q, want %q", tc.v3, got, tc.want)
		}
	}
}
