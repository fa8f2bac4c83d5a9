package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// buildBinary compiles the command once per test into a temporary
// directory, so the test exercises the real binary, flags and signals.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mlflow-test-server")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startBinary runs the server and returns its URL from the first stdout
// line; the process is interrupted and waited for at cleanup.
func startBinary(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("read URL line: %v", err)
	}
	t.Cleanup(func() {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Errorf("interrupt: %v", err)
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("server exit: %v", err)
		}
	})
	return strings.TrimSpace(line)
}

func fetch(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestBinary(t *testing.T) {
	bin := buildBinary(t)

	t.Run("serves MLflow", func(t *testing.T) {
		url := startBinary(t, bin, nil, "-addr", "127.0.0.1:0")
		if !strings.HasPrefix(url, "http://127.0.0.1:") {
			t.Fatalf("first line %q is not the tracking URI", url)
		}
		req, _ := http.NewRequest(http.MethodGet, url+"/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default", nil)
		if code, body := fetch(t, req); code != 200 || !strings.Contains(body, `"experiment_id":"0"`) {
			t.Errorf("get-by-name: %d %s", code, body)
		}
		req, _ = http.NewRequest(http.MethodPost, url+"/api/2.0/mlflow/experiments/create", strings.NewReader(`{"name":"x"}`))
		req.Header.Set("Content-Type", "application/json")
		if code, body := fetch(t, req); code != 200 || body != `{"experiment_id":"1"}` {
			t.Errorf("create: %d %s", code, body)
		}
	})

	t.Run("auth", func(t *testing.T) {
		url := startBinary(t, bin, []string{"MTS_TOKEN=tok", "MTS_PASS=pw"},
			"-addr", "127.0.0.1:0", "-bearer-token-env", "MTS_TOKEN", "-basic-user", "u", "-basic-password-env", "MTS_PASS")
		for _, tc := range []struct {
			auth func(*http.Request)
			want int
		}{
			{func(*http.Request) {}, 401},
			{func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok") }, 200},
			{func(r *http.Request) { r.SetBasicAuth("u", "pw") }, 200},
			{func(r *http.Request) { r.SetBasicAuth("u", "tok") }, 401},
		} {
			req, _ := http.NewRequest(http.MethodGet, url+"/api/2.0/mlflow/experiments/get?experiment_id=0", nil)
			tc.auth(req)
			if code, _ := fetch(t, req); code != tc.want {
				t.Errorf("status %d, want %d (%v)", code, tc.want, req.Header)
			}
		}
	})

	t.Run("bad flags", func(t *testing.T) {
		for _, args := range [][]string{
			{"-bearer-token-env", "MTS_UNSET_VARIABLE"},
			{"-basic-user", "u"},
			{"-addr", "not-an-address"},
			{"-no-such-flag"},
		} {
			if err := exec.Command(bin, args...).Run(); err == nil {
				t.Errorf("%v: exit 0, want failure", args)
			}
		}
	})
}
