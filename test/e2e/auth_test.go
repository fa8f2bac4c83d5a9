package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otelmetric "go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	"google.golang.org/grpc/credentials"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// The gateway recipe of deploy/gateway, run as shipped: the tests set only
// the environment the recipe reads (ports, certificate, token files,
// tracking URI), never a copy of its settings.

const authSkip = "needs the test server: a gateway recipe writing into a fresh server, certificates and tokens made by the test"

// Tokens the gateways of these tests accept, and one they do not.
const (
	tokenTeamA = "gw-t0ken-a-4f9c1e7b2d"
	tokenTeamB = "gw-t0ken-b-8a3d6f0c5e"
	tokenWrong = "gw-t0ken-wrong-1b7e9a2c"
)

// testCert is a self-signed certificate for 127.0.0.1 and localhost, its
// own CA.
type testCert struct {
	CertFile, KeyFile string
	Pool              *x509.CertPool
}

func newTestCert(t testing.TB, dir string) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "otelcol-mlflow gateway (e2e)"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	c := testCert{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), Pool: x509.NewCertPool()}
	require.NoError(t, os.WriteFile(c.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(c.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	c.Pool.AddCert(cert)
	return c
}

func recipe(name string) string { return filepath.Join(repoRoot(), "deploy", "gateway", name) }

// gatewayEnv is the environment deploy/gateway/config.yaml reads, for a
// gateway in dir on ports writing to trackingURI.
func gatewayEnv(dir string, ports Ports, cert testCert, tokensFile, trackingURI string) []string {
	return []string{
		"MLFLOW_TRACKING_URI=" + trackingURI,
		fmt.Sprintf("OTELCOL_GRPC_ENDPOINT=127.0.0.1:%d", ports.GRPC),
		fmt.Sprintf("OTELCOL_HTTP_ENDPOINT=127.0.0.1:%d", ports.HTTP),
		fmt.Sprintf("OTELCOL_HEALTH_ENDPOINT=127.0.0.1:%d", ports.Health),
		"OTELCOL_METRICS_HOST=127.0.0.1",
		fmt.Sprintf("OTELCOL_METRICS_PORT=%d", ports.Metrics),
		"OTELCOL_TLS_CERT_FILE=" + cert.CertFile,
		"OTELCOL_TLS_KEY_FILE=" + cert.KeyFile,
		"OTELCOL_TOKENS_FILE=" + tokensFile,
		"OTELCOL_DATA=" + dir,
	}
}

// agentEnv is the environment deploy/gateway/agent.yaml reads.
func agentEnv(dir string, ports Ports, gatewayGRPC int, caFile, tokenFile, hostName string) []string {
	return []string{
		fmt.Sprintf("OTELCOL_GRPC_ENDPOINT=127.0.0.1:%d", ports.GRPC),
		fmt.Sprintf("OTELCOL_HTTP_ENDPOINT=127.0.0.1:%d", ports.HTTP),
		fmt.Sprintf("OTELCOL_HEALTH_ENDPOINT=127.0.0.1:%d", ports.Health),
		fmt.Sprintf("OTELCOL_METRICS_PORT=%d", ports.Metrics),
		fmt.Sprintf("OTELCOL_GATEWAY_ENDPOINT=127.0.0.1:%d", gatewayGRPC),
		"OTELCOL_GATEWAY_CA_FILE=" + caFile,
		"OTELCOL_GATEWAY_TOKEN_FILE=" + tokenFile,
		"OTELCOL_HOST_NAME=" + hostName,
		"OTELCOL_DATA=" + dir,
	}
}

func newPorts(t testing.TB) Ports {
	return Ports{GRPC: freePort(t), HTTP: freePort(t), Health: freePort(t), Metrics: freePort(t)}
}

// gateway is a running deploy/gateway/config.yaml.
type gateway struct {
	*Collector
	Cert   testCert
	zpages int // 0 unless started with debugOverlay
}

// debugOverlay is a second --config for a recipe: debug logs and zpages,
// so that the secrets test sees everything the collector can emit.
func debugOverlay(t testing.TB, dir string, extensions string) (path string, zpagesPort int) {
	t.Helper()
	zpagesPort = freePort(t)
	path = filepath.Join(dir, "debug-overlay.yaml")
	overlay := fmt.Sprintf(`extensions:
  zpages:
    endpoint: 127.0.0.1:%d
service:
  extensions: [%s, zpages]
  telemetry:
    logs:
      level: debug
`, zpagesPort, extensions)
	require.NoError(t, os.WriteFile(path, []byte(overlay), 0o600))
	return path, zpagesPort
}

// startGateway starts the gateway recipe accepting tokens (a tokens file,
// one per line with a comment, as docs/deploy.md shows).
func startGateway(t testing.TB, trackingURI string, debug bool, tokens ...string) *gateway {
	t.Helper()
	dir := t.TempDir()
	ports := newPorts(t)
	cert := newTestCert(t, dir)
	var lines []string
	for i, tok := range tokens {
		lines = append(lines, fmt.Sprintf("%s  # team-%c", tok, 'a'+i))
	}
	tokensFile := filepath.Join(dir, "tokens")
	require.NoError(t, os.WriteFile(tokensFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	args := []string{"--config", recipe("config.yaml")}
	g := &gateway{Cert: cert}
	if debug {
		var overlay string
		overlay, g.zpages = debugOverlay(t, dir, "bearertokenauth, file_storage, health_check")
		args = append(args, "--config", overlay)
	}
	g.Collector = StartCollectorArgs(t, dir, ports, gatewayEnv(dir, ports, cert, tokensFile, trackingURI), args...)
	return g
}

// startAgent starts the agent recipe forwarding to g with token.
func startAgent(t testing.TB, g *gateway, token, hostName string, debug bool) (*Collector, int) {
	t.Helper()
	dir := t.TempDir()
	ports := newPorts(t)
	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))
	// Scrape every second so the host's metrics show up within the test.
	args := []string{"--config", recipe("agent.yaml"), "--set=receivers::gpu::collection_interval=1s"}
	zp := 0
	if debug {
		var overlay string
		overlay, zp = debugOverlay(t, dir, "bearertokenauth, file_storage, health_check")
		args = append(args, "--config", overlay)
	}
	c := StartCollectorArgs(t, dir, ports, agentEnv(dir, ports, g.Ports.GRPC, g.Cert.CertFile, tokenFile, hostName), args...)
	return c, zp
}

// newAuthStream is a stream sending to the gateway over TLS (trusting the
// gateway's certificate) with "Authorization: Bearer <token>", no header
// when token is "". The SDK's retries are off: a refusal is the export's
// error at once.
func newAuthStream(t testing.TB, g *gateway, proto Protocol, runName, token string) *stream {
	t.Helper()
	ctx := context.Background()
	headers := map[string]string{}
	if token != "" {
		headers["Authorization"] = "Bearer " + token
	}
	sel := func(metric.InstrumentKind) metricdata.Temporality { return metricdata.DeltaTemporality }
	var exp metric.Exporter
	var err error
	switch proto {
	case GRPC:
		exp, err = otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(fmt.Sprintf("127.0.0.1:%d", g.Ports.GRPC)),
			otlpmetricgrpc.WithTLSCredentials(credentials.NewClientTLSFromCert(g.Cert.Pool, "")),
			otlpmetricgrpc.WithHeaders(headers), otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{Enabled: false}),
			otlpmetricgrpc.WithTemporalitySelector(sel))
	case HTTP:
		exp, err = otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(fmt.Sprintf("127.0.0.1:%d", g.Ports.HTTP)),
			otlpmetrichttp.WithTLSClientConfig(&tls.Config{RootCAs: g.Cert.Pool, MinVersion: tls.VersionTLS12}),
			otlpmetrichttp.WithHeaders(headers), otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}),
			otlpmetrichttp.WithTemporalitySelector(sel))
	}
	require.NoError(t, err)
	res := resource.NewSchemaless(attribute.String("service.name", "trainer"), attribute.String("mlflow.run.name", runName))
	mp := metric.NewMeterProvider(metric.WithResource(res),
		metric.WithReader(metric.NewPeriodicReader(exp, metric.WithInterval(time.Hour))))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	st := &stream{s: &Sender{MP: mp}, keys: map[string]otelmetric.Float64Gauge{}, stride: 1}
	for k := range streamKeys {
		g, err := mp.Meter("train").Float64Gauge(k)
		require.NoError(t, err)
		st.keys[k] = g
	}
	return st
}

// refusedSenders are the senders a gateway must turn away, by name: no
// token and a wrong one, on both protocols.
var refusedSenders = []struct {
	name  string
	proto Protocol
	token string
}{
	{"grpc-no-token", GRPC, ""},
	{"grpc-wrong-token", GRPC, tokenWrong},
	{"grpc-token-with-a-prefix", GRPC, "x" + tokenTeamA},
	{"http-no-token", HTTP, ""},
	{"http-wrong-token", HTTP, tokenWrong},
}

// TestAuthGatewayRefusesUnauthenticatedSenders: the gateway recipe (TLS and
// bearertokenauth on both OTLP protocols) refuses an SDK sender without a
// token or with a wrong one, on gRPC and HTTP, at the receiver: the
// export fails and nothing of it reaches MLflow. Senders with either of
// the two accepted tokens land, on both protocols.
func TestAuthGatewayRefusesUnauthenticatedSenders(t *testing.T) {
	skipOnRealServer(t, authSkip)
	srv := mlflowtest.Start(t)
	g := startGateway(t, srv.URL(), false, tokenTeamA, tokenTeamB)

	for _, s := range refusedSenders {
		st := newAuthStream(t, g, s.proto, s.name, s.token)
		err := st.send(3)
		require.Error(t, err, "%s: the gateway accepted the export", s.name)
		if s.proto == GRPC {
			assert.Contains(t, err.Error(), "Unauthenticated", s.name)
		} else {
			assert.Contains(t, err.Error(), "401", s.name)
		}
		t.Logf("%s refused: %v", s.name, err)
	}

	var accepted []*stream
	names := []string{"grpc-team-a", "http-team-b", "http-team-a", "grpc-team-b"}
	for i, name := range names {
		proto, token := GRPC, tokenTeamA
		if strings.HasPrefix(name, "http") {
			proto = HTTP
		}
		if strings.HasSuffix(name, "team-b") {
			token = tokenTeamB
		}
		st := newAuthStream(t, g, proto, name, token)
		st.mustSend(t, 3+i)
		accepted = append(accepted, st)
	}
	for i, st := range accepted {
		awaitLanded(t, srv, names[i], st.acked, true, 20*time.Second)
	}
	// Whatever was in flight has landed by now: the refused senders' runs
	// would be there too.
	for _, r := range srv.Runs() {
		for _, s := range refusedSenders {
			assert.NotEqual(t, s.name, r.Info.RunName, "a refused sender's run was created")
		}
	}
	assert.Len(t, srv.Runs(), len(names))
	v, _ := metricValue(g.SelfMetrics(t), "otelcol_receiver_accepted_metric_points")
	assert.Positive(t, v, "the accepted senders' points are counted by the receiver")
}

// TestAuthAgentForwardsToGateway: the agent recipe forwards what a training
// process sends it, and its node's host metrics, to the gateway over TLS
// with its token; the host metrics are attached to the run through the
// host.name the agent sets. An agent with a wrong token gets nothing in.
func TestAuthAgentForwardsToGateway(t *testing.T) {
	skipOnRealServer(t, authSkip)
	srv := mlflowtest.Start(t)
	g := startGateway(t, srv.URL(), false, tokenTeamA, tokenTeamB)

	agent, _ := startAgent(t, g, tokenTeamB, "node-b", false)
	st := newStream(t, agent, GRPC, "through-agent", 0, 1)
	st.mustSend(t, 5)
	run := awaitLanded(t, srv, "through-agent", st.acked, true, 30*time.Second)
	eventually(t, 30*time.Second, "the agent's host metrics in the run", func() bool {
		return len(srv.MetricHistory(run.Info.RunID, "system/system_memory_usage_megabytes")) > 0
	})

	bad, _ := startAgent(t, g, tokenWrong, "node-x", false)
	sb := newStream(t, bad, GRPC, "through-bad-agent", 0, 1)
	sb.mustSend(t, 5) // the agent accepts; the gateway refuses it
	eventually(t, 20*time.Second, "the agent logs the gateway's refusal", func() bool {
		return strings.Contains(bad.Output(), "Unauthenticated")
	})
	// The bad agent's host metrics would attach to no run of its own
	// host; its training run must not exist.
	time.Sleep(time.Second) // nothing may arrive: no condition to await
	for _, r := range srv.Runs() {
		assert.NotEqual(t, "through-bad-agent", r.Info.RunName, "the wrong-token agent's run was created")
	}
}

// TestAuthRecipesValidate: the recipe files of deploy/gateway pass the
// binary's validate subcommand with the environment they document, and a
// broken OIDC setting is rejected with a clear message.
func TestAuthRecipesValidate(t *testing.T) {
	skipOnRealServer(t, authSkip)
	dir := t.TempDir()
	cert := newTestCert(t, dir)
	tokens := filepath.Join(dir, "tokens")
	require.NoError(t, os.WriteFile(tokens, []byte(tokenTeamA+"\n"), 0o600))
	ports := newPorts(t)
	gw := gatewayEnv(dir, ports, cert, tokens, "http://127.0.0.1:5000")
	oidc := append(append([]string{}, gw...), "OTELCOL_OIDC_ISSUER_URL=https://idp.example.com/realms/ml", "OTELCOL_OIDC_AUDIENCE=otelcol-gateway")
	cases := []struct {
		name    string
		env     []string
		configs []string
		wantErr string
	}{
		{"gateway", gw, []string{"config.yaml"}, ""},
		{"agent", agentEnv(dir, ports, 4317, cert.CertFile, tokens, "node-a"), []string{"agent.yaml"}, ""},
		{"gateway-oidc", oidc, []string{"config.yaml", "oidc.yaml"}, ""},
		{"gateway-oidc-no-audience", append(append([]string{}, gw...), "OTELCOL_OIDC_ISSUER_URL=https://idp.example.com"), []string{"config.yaml", "oidc.yaml"}, "no Audience provided"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"validate"}
			for _, f := range c.configs {
				args = append(args, "--config", recipe(f))
			}
			cmd := exec.Command(collectorBinary(t), args...)
			cmd.Dir = dir
			cmd.Env = append(cleanEnv(), c.env...)
			out, err := cmd.CombinedOutput()
			if c.wantErr == "" {
				require.NoError(t, err, "%s", out)
				return
			}
			require.Error(t, err, "%s", out)
			assert.Contains(t, string(out), c.wantErr)
		})
	}
}

// TestAuthOIDCIssuerUnreachable: with the OIDC overlay and an issuer that
// cannot be reached, the gateway does not start (it would otherwise accept
// nothing), and says why.
func TestAuthOIDCIssuerUnreachable(t *testing.T) {
	skipOnRealServer(t, authSkip)
	dir := t.TempDir()
	cert := newTestCert(t, dir)
	tokens := filepath.Join(dir, "tokens")
	require.NoError(t, os.WriteFile(tokens, []byte(tokenTeamA+"\n"), 0o600))
	env := append(gatewayEnv(dir, newPorts(t), cert, tokens, mlflowtest.Start(t).URL()),
		fmt.Sprintf("OTELCOL_OIDC_ISSUER_URL=https://127.0.0.1:%d/realms/ml", freePort(t)), "OTELCOL_OIDC_AUDIENCE=otelcol-gateway")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, collectorBinary(t), "--config", recipe("config.yaml"), "--config", recipe("oidc.yaml"))
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the gateway started without its OIDC issuer:\n%s", out)
	require.NoError(t, ctx.Err(), "the gateway neither started nor exited:\n%s", out)
	assert.Contains(t, string(out), "failed to get configuration from at least one configured auth server")
}

// TestAuthSecretsNeverEmitted: the bearer tokens of the auth extension —
// the gateway's accepted tokens, the agent's client token, and tokens that
// senders presented and were refused — never appear in the logs (debug),
// self-metrics, zpages or health check of the gateway and the agent.
func TestAuthSecretsNeverEmitted(t *testing.T) {
	skipOnRealServer(t, authSkip)
	srv := mlflowtest.Start(t)
	g := startGateway(t, srv.URL(), true, tokenTeamA, tokenTeamB)
	agent, agentZpages := startAgent(t, g, tokenTeamB, "node-b", true)

	for _, s := range refusedSenders {
		require.Error(t, newAuthStream(t, g, s.proto, s.name, s.token).send(2), s.name)
	}
	for _, proto := range []Protocol{GRPC, HTTP} {
		name := "secret-" + string(proto)
		st := newAuthStream(t, g, proto, name, tokenTeamA)
		st.mustSend(t, 3)
		awaitLanded(t, srv, name, st.acked, true, 20*time.Second)
	}
	st := newStream(t, agent, GRPC, "secret-agent", 0, 1)
	st.mustSend(t, 3)
	awaitLanded(t, srv, "secret-agent", st.acked, true, 30*time.Second)

	secrets := []string{tokenTeamA, tokenTeamB, tokenWrong}
	for _, c := range []struct {
		name   string
		col    *Collector
		zpages int
	}{{"gateway", g.Collector, g.zpages}, {"agent", agent, agentZpages}} {
		emitted := map[string]string{"logs": c.col.Output(), "self-metrics": c.col.SelfMetrics(t)}
		for _, page := range []string{"servicez", "pipelinez", "extensionz", "featurez", "tracez"} {
			emitted["zpages "+page] = httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/debug/%s", c.zpages, page))
		}
		emitted["health"] = httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", c.col.Ports.Health))
		for what, text := range emitted {
			require.NotEmpty(t, text, "%s of the %s", what, c.name)
			for _, secret := range secrets {
				assert.NotContains(t, text, secret, "%s of the %s", what, c.name)
			}
		}
	}
	// The debug logs did see the refusals (the check above had something
	// to look at).
	assert.Contains(t, g.Output(), "debug", "the gateway logged at debug")
}
