package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
)

// Config is one collector's configuration. Every suite's config is a
// Config rendered by configTemplate: the otlp receiver (gRPC, and HTTP
// unless GRPCOnly) feeding the mlflow exporter, a health check and
// Prometheus self-metrics on the collector's own Ports, and whatever
// receivers, processors and extensions the suite adds. The constructors
// below (baseConfig, gpuConfig, relConfig) are the shapes the suites share.
type Config struct {
	// Exporter holds the mlflow exporter's settings, YAML at column 0.
	Exporter string
	// GRPCOnly leaves out the otlp receiver's HTTP endpoint.
	GRPCOnly bool
	// Receivers, Processors and Extensions are added after otlp and
	// health_check, in order.
	Receivers  []Component
	Processors []Component
	Extensions []Component
	// FileStorage adds the file_storage extension (for a persistent
	// sending queue), keeping its files in <collector dir>/queue.
	FileStorage bool
	// ZPages is the port of a zpages extension; 0: none.
	ZPages int
	// Pipelines default to one, "metrics", from every receiver through
	// every processor; each exports to mlflow.
	Pipelines []Pipeline
	// LogLevel and MetricsLevel set service::telemetry's logs and metrics
	// levels; "" leaves the collector's default (info, normal).
	LogLevel     string
	MetricsLevel string
}

// Component is a receiver, processor or extension: its id and its
// settings, YAML at column 0.
type Component struct {
	ID   string
	Body string
}

// Pipeline is one metrics pipeline into the mlflow exporter.
type Pipeline struct {
	ID         string
	Receivers  []string
	Processors []string
}

// configData is what configTemplate renders: a Config on given ports and
// in a given directory.
type configData struct {
	Config
	Ports Ports
	Dir   string
}

func (d configData) ExtensionIDs() []string {
	ids := []string{"health_check"}
	if d.FileStorage {
		ids = append(ids, "file_storage")
	}
	if d.ZPages != 0 {
		ids = append(ids, "zpages")
	}
	for _, e := range d.Extensions {
		ids = append(ids, e.ID)
	}
	return ids
}

func (d configData) AllPipelines() []Pipeline {
	if len(d.Pipelines) > 0 {
		return d.Pipelines
	}
	p := Pipeline{ID: "metrics", Receivers: []string{"otlp"}}
	for _, r := range d.Receivers {
		p.Receivers = append(p.Receivers, r.ID)
	}
	for _, r := range d.Processors {
		p.Processors = append(p.Processors, r.ID)
	}
	return []Pipeline{p}
}

var configTemplate = template.Must(template.New("config").Funcs(template.FuncMap{
	"indent": indent,
	"list":   func(ids []string) string { return "[" + strings.Join(ids, ", ") + "]" },
}).Parse(`
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{{.Ports.GRPC}}
{{- if not .GRPCOnly}}
      http:
        endpoint: 127.0.0.1:{{.Ports.HTTP}}
{{- end}}
{{- range .Receivers}}
  {{.ID}}:
{{indent 4 .Body}}
{{- end}}
{{- if .Processors}}
processors:
{{- range .Processors}}
  {{.ID}}:
{{indent 4 .Body}}
{{- end}}
{{- end}}
exporters:
  mlflow:
{{indent 4 .Exporter}}
extensions:
  health_check:
    endpoint: 127.0.0.1:{{.Ports.Health}}
{{- if .FileStorage}}
  file_storage:
    directory: {{.Dir}}/queue
    create_directory: true
{{- end}}
{{- if .ZPages}}
  zpages:
    endpoint: 127.0.0.1:{{.ZPages}}
{{- end}}
{{- range .Extensions}}
  {{.ID}}:
{{indent 4 .Body}}
{{- end}}
service:
  extensions: {{list .ExtensionIDs}}
  telemetry:
{{- if .LogLevel}}
    logs:
      level: {{.LogLevel}}
{{- end}}
    metrics:
{{- if .MetricsLevel}}
      level: {{.MetricsLevel}}
{{- end}}
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {{.Ports.Metrics}}
  pipelines:
{{- range .AllPipelines}}
    {{.ID}}:
      receivers: {{list .Receivers}}
{{- if .Processors}}
      processors: {{list .Processors}}
{{- end}}
      exporters: [mlflow]
{{- end}}
`))

// Render is the config's YAML for a collector on ports whose working
// directory is dir.
func (c Config) Render(ports Ports, dir string) (string, error) {
	var b bytes.Buffer
	if err := configTemplate.Execute(&b, configData{Config: c, Ports: ports, Dir: dir}); err != nil {
		return "", err
	}
	return b.String(), nil
}

// writeConfig renders c into dir/config.yaml and returns the path.
func writeConfig(t testing.TB, dir string, ports Ports, c Config) string {
	t.Helper()
	cfg, err := c.Render(ports, dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// baseConfig is OTLP (gRPC and HTTP) -> mlflow with info logs and
// detailed self-metrics.
func baseConfig(exporter string) Config {
	return Config{Exporter: exporter, LogLevel: "info", MetricsLevel: "detailed"}
}

// gpuConfig adds the gpu receiver (scraping this machine every 300 ms, the
// processes pids) to OTLP over gRPC.
func gpuConfig(exporter string, pids ...int) Config {
	ps := make([]string, len(pids))
	for i, p := range pids {
		ps[i] = fmt.Sprint(p)
	}
	return Config{
		Exporter: exporter,
		GRPCOnly: true,
		Receivers: []Component{{ID: "gpu", Body: fmt.Sprintf(`
collection_interval: 300ms
initial_delay: 0s
pids: [%s]`, strings.Join(ps, ", "))}},
	}
}

// relConfig is baseConfig with what a production pipeline has in front of
// the exporter: memory_limiter, a file_storage extension for the
// persistent queue (used when the exporter's sending_queue names it:
// persistent) and zpages. The exporter writes to the experiment
// "reliability" with short timeouts and backoff, so that outages of
// seconds exercise the same paths as outages of minutes, and retries that
// never give up; extra is appended to its settings.
func relConfig(t testing.TB, trackingURI string, persistent bool, extra string) Config {
	return relConfigExp(t, trackingURI, "reliability", persistent, extra)
}

// relConfigExp is relConfig writing to the named experiment.
func relConfigExp(t testing.TB, trackingURI, experiment string, persistent bool, extra string) Config {
	storage := ""
	timeout := "1s"
	if realMLflowURI() != "" {
		// A real server on sqlite, on a shared machine, can take longer
		// than a second; the tests that time out on purpose use the test
		// server.
		timeout = "10s"
	}
	if persistent {
		storage = "\n  storage: file_storage"
	}
	c := baseConfig(fmt.Sprintf(`
tracking_uri: %s
experiment_name: %s
timeout: %s
sending_queue:
  num_consumers: 1%s
  batch:
    flush_timeout: 100ms
retry_on_failure:
  initial_interval: 50ms
  max_interval: 400ms
  max_elapsed_time: 0
`, trackingURI, experiment, timeout, storage) + extra)
	c.Processors = []Component{{ID: "memory_limiter", Body: `
check_interval: 1s
limit_mib: 1024
spike_limit_mib: 256`}}
	c.FileStorage = true
	c.ZPages = freePort(t)
	return c
}

// portFlags are the --set flags that put a shipped config's otlp receiver
// and health check on ports, where configTemplate puts them.
func portFlags(ports Ports) []string {
	return []string{
		fmt.Sprintf("--set=receivers::otlp::protocols::grpc::endpoint=127.0.0.1:%d", ports.GRPC),
		fmt.Sprintf("--set=receivers::otlp::protocols::http::endpoint=127.0.0.1:%d", ports.HTTP),
		fmt.Sprintf("--set=extensions::health_check::endpoint=127.0.0.1:%d", ports.Health),
	}
}
