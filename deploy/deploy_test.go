package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// externalSecrets are Secrets the manifests use but do not ship (created by cert-manager or by
// hand); each must be explained, by name, in the manifest that mounts it.
var externalSecrets = map[string]bool{"otelcol-mlflow-gateway-tls": true}

// rootCapabilities are the only capabilities an init container running as root may add (the
// agent's queue-owner, which hands the hostPath queue directory to the agent's user).
var rootCapabilities = map[corev1.Capability]bool{"CHOWN": true, "FOWNER": true}

type manifests struct {
	file        string // for messages
	text        string
	daemonSets  []appsv1.DaemonSet
	deployments []appsv1.Deployment
	services    []corev1.Service
	configMaps  map[string]corev1.ConfigMap
	secrets     map[string]corev1.Secret
	others      []string // kinds decoded but not checked further
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeStrict decodes one YAML document into out, refusing unknown fields and duplicate keys.
func decodeStrict(doc []byte, out any) error {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the object")
	}
	return nil
}

func loadManifests(t *testing.T, file string) *manifests {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m := &manifests{file: file, text: string(raw), configMaps: map[string]corev1.ConfigMap{}, secrets: map[string]corev1.Secret{}}
	for i, doc := range docSep.Split(string(raw), -1) {
		var probe struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("%s document %d: %v", file, i, err)
		}
		if string(js) == "null" {
			continue // comments only
		}
		if err := json.Unmarshal(js, &probe); err != nil {
			t.Fatalf("%s document %d: %v", file, i, err)
		}
		where := fmt.Sprintf("%s document %d (%s %s)", file, i, probe.APIVersion, probe.Kind)
		var obj any
		switch probe.APIVersion + " " + probe.Kind {
		case "apps/v1 DaemonSet":
			obj = &appsv1.DaemonSet{}
		case "apps/v1 Deployment":
			obj = &appsv1.Deployment{}
		case "v1 Service":
			obj = &corev1.Service{}
		case "v1 ConfigMap":
			obj = &corev1.ConfigMap{}
		case "v1 Secret":
			obj = &corev1.Secret{}
		case "v1 ServiceAccount":
			obj = &corev1.ServiceAccount{}
		case "v1 Namespace":
			obj = &corev1.Namespace{}
		default:
			t.Fatalf("%s: kind not known to this test; add it", where)
		}
		if err := decodeStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s: strict decode: %v", where, err)
		}
		switch o := obj.(type) {
		case *appsv1.DaemonSet:
			m.daemonSets = append(m.daemonSets, *o)
		case *appsv1.Deployment:
			m.deployments = append(m.deployments, *o)
		case *corev1.Service:
			m.services = append(m.services, *o)
		case *corev1.ConfigMap:
			m.configMaps[o.Name] = *o
		case *corev1.Secret:
			m.secrets[o.Name] = *o
		default:
			m.others = append(m.others, probe.Kind)
		}
	}
	return m
}

func manifestFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("k8s", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	yml, _ := filepath.Glob(filepath.Join("k8s", "*.yml"))
	files = append(files, yml...)
	if len(files) < 2 {
		t.Fatalf("expected deploy/k8s/daemonset.yaml and gateway.yaml, found %v", files)
	}
	return files
}

// TestStrictDecodeRejectsUnknownFields proves the decoder used below is strict.
func TestStrictDecodeRejectsUnknownFields(t *testing.T) {
	doc := "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports: [{port: 1, targetPortt: 2}]\n"
	if err := decodeStrict([]byte(doc), &corev1.Service{}); err == nil {
		t.Fatal("unknown field targetPortt was accepted")
	}
	dup := "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nmetadata: {name: y}\n"
	if err := decodeStrict([]byte(dup), &corev1.Service{}); err == nil {
		t.Fatal("duplicate key was accepted")
	}
}

// workload is a DaemonSet or Deployment, reduced to what the checks need.
type workload struct {
	kind, name string
	selector   map[string]string
	pod        corev1.PodTemplateSpec
}

func (m *manifests) workloads() []workload {
	var ws []workload
	for _, d := range m.daemonSets {
		ws = append(ws, workload{"DaemonSet", d.Name, d.Spec.Selector.MatchLabels, d.Spec.Template})
	}
	for _, d := range m.deployments {
		ws = append(ws, workload{"Deployment", d.Name, d.Spec.Selector.MatchLabels, d.Spec.Template})
	}
	return ws
}

func TestKubernetesManifests(t *testing.T) {
	total := 0
	for _, file := range manifestFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			m := loadManifests(t, file)
			ws := m.workloads()
			if len(ws) == 0 {
				t.Fatal("no DaemonSet or Deployment")
			}
			total += len(ws)
			for _, w := range ws {
				t.Run(w.kind+"/"+w.name, func(t *testing.T) { checkWorkload(t, m, w) })
			}
			for _, s := range m.services {
				t.Run("Service/"+s.Name, func(t *testing.T) { checkService(t, m, s) })
			}
		})
	}
	if total < 2 {
		t.Errorf("found %d workloads, want the agent DaemonSet and the gateway Deployment", total)
	}
}

func checkWorkload(t *testing.T, m *manifests, w workload) {
	spec := w.pod.Spec
	if len(w.selector) == 0 {
		t.Error("empty selector")
	}
	for k, v := range w.selector {
		if w.pod.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod template's labels %v", k, v, w.pod.Labels)
		}
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Error("hostNetwork, hostPID or hostIPC is set")
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken must be false: the collector calls no Kubernetes API")
	}
	podSC := spec.SecurityContext
	if podSC == nil || podSC.SeccompProfile == nil || podSC.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod securityContext.seccompProfile must be RuntimeDefault")
	}

	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		if _, dup := volumes[v.Name]; dup {
			t.Errorf("volume %q declared twice", v.Name)
		}
		volumes[v.Name] = v
		if v.ConfigMap != nil {
			if _, ok := m.configMaps[v.ConfigMap.Name]; !ok {
				t.Errorf("volume %q: ConfigMap %q is not in %s", v.Name, v.ConfigMap.Name, m.file)
			}
		}
		if v.Secret != nil {
			checkSecretRef(t, m, v.Secret.SecretName)
		}
	}
	mounted := map[string]bool{}
	all := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for i, c := range all {
		init := i < len(spec.InitContainers)
		for _, vm := range c.VolumeMounts {
			if _, ok := volumes[vm.Name]; !ok {
				t.Errorf("container %q mounts %q, which is not a volume of the pod", c.Name, vm.Name)
			}
			mounted[vm.Name] = true
		}
		checkSecurity(t, c, podSC, init)
		checkResources(t, c)
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil {
				checkSecretRef(t, m, ef.SecretRef.Name)
			}
			if ef.ConfigMapRef != nil {
				if _, ok := m.configMaps[ef.ConfigMapRef.Name]; !ok {
					t.Errorf("container %q: envFrom ConfigMap %q is not in %s", c.Name, ef.ConfigMapRef.Name, m.file)
				}
			}
		}
	}
	for name := range volumes {
		if !mounted[name] {
			t.Errorf("volume %q is mounted by no container", name)
		}
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("want exactly one (collector) container, got %d", len(spec.Containers))
	}
	checkCollectorContainer(t, m, spec.Containers[0], volumes)
}

func checkSecretRef(t *testing.T, m *manifests, name string) {
	t.Helper()
	if _, ok := m.secrets[name]; ok {
		return
	}
	if !externalSecrets[name] {
		t.Errorf("Secret %q is neither in %s nor a documented external secret", name, m.file)
		return
	}
	if !strings.Contains(m.text, name) || !strings.Contains(m.text, "create secret") {
		t.Errorf("external Secret %q: %s does not say how to create it", name, m.file)
	}
}

func checkSecurity(t *testing.T, c corev1.Container, pod *corev1.PodSecurityContext, init bool) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("container %q: no securityContext", c.Name)
		return
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("container %q is privileged", c.Name)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container %q: allowPrivilegeEscalation must be false", c.Name)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("container %q: readOnlyRootFilesystem must be true", c.Name)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("container %q: capabilities must drop ALL", c.Name)
	}
	nonRoot := pod != nil && pod.RunAsNonRoot != nil && *pod.RunAsNonRoot
	if sc.RunAsNonRoot != nil {
		nonRoot = *sc.RunAsNonRoot
	}
	uid := int64(-1)
	if pod != nil && pod.RunAsUser != nil {
		uid = *pod.RunAsUser
	}
	if sc.RunAsUser != nil {
		uid = *sc.RunAsUser
	}
	var added []corev1.Capability
	if sc.Capabilities != nil {
		added = sc.Capabilities.Add
	}
	if nonRoot && uid != 0 {
		if len(added) > 0 {
			t.Errorf("container %q adds capabilities %v", c.Name, added)
		}
		return
	}
	if !init {
		t.Errorf("container %q: runAsNonRoot must be true (uid %d)", c.Name, uid)
		return
	}
	// The one exception: an init container as root with nothing but CHOWN/FOWNER.
	for _, a := range added {
		if !rootCapabilities[a] {
			t.Errorf("init container %q runs as root and adds %s", c.Name, a)
		}
	}
}

func checkResources(t *testing.T, c corev1.Container) {
	t.Helper()
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		lim, limOK := c.Resources.Limits[r]
		if !limOK || lim.IsZero() {
			t.Errorf("container %q: no %s limit", c.Name, r)
		}
		req, ok := c.Resources.Requests[r]
		if !ok || req.IsZero() {
			t.Errorf("container %q: no %s request", c.Name, r)
		} else if limOK && req.Cmp(lim) > 0 {
			t.Errorf("container %q: %s request %s above its limit %s", c.Name, r, req.String(), lim.String())
		}
	}
}

// collectorConfig is the part of an otelcol-mlflow config the checks read.
type collectorConfig struct {
	text string
	tree map[string]any
}

func (c collectorConfig) get(keys ...string) any {
	var cur any = c.tree
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

// listener is one address the collector listens on.
type listener struct {
	what string
	host string
	port int32
}

func (c collectorConfig) listeners(t *testing.T) []listener {
	t.Helper()
	var ls []listener
	add := func(what string, endpoint any) {
		s, ok := endpoint.(string)
		if !ok {
			t.Errorf("%s: endpoint %v is not a string", what, endpoint)
			return
		}
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			t.Errorf("%s: endpoint %q: %v (write a literal host:port in a deployed config)", what, s, err)
			return
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			t.Errorf("%s: port %q is not a number", what, port)
			return
		}
		ls = append(ls, listener{what, host, int32(p)})
	}
	recv, _ := c.get("receivers").(map[string]any)
	for name, r := range recv {
		rm, _ := r.(map[string]any)
		if e, ok := rm["endpoint"]; ok {
			add("receivers."+name, e)
		}
		protos, _ := rm["protocols"].(map[string]any)
		for p, pc := range protos {
			if pm, ok := pc.(map[string]any); ok && pm["endpoint"] != nil {
				add("receivers."+name+".protocols."+p, pm["endpoint"])
			}
		}
	}
	ext, _ := c.get("extensions").(map[string]any)
	for name, e := range ext {
		if em, ok := e.(map[string]any); ok && em["endpoint"] != nil {
			add("extensions."+name, em["endpoint"])
		}
	}
	readers, _ := c.get("service", "telemetry", "metrics", "readers").([]any)
	for i, r := range readers {
		rm, _ := r.(map[string]any)
		prom, _ := collectorConfig{tree: rm}.get("pull", "exporter", "prometheus").(map[string]any)
		if prom == nil {
			continue
		}
		host, _ := prom["host"].(string)
		add(fmt.Sprintf("telemetry.metrics.readers[%d]", i), net.JoinHostPort(host, fmt.Sprint(prom["port"])))
	}
	return ls
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c collectorConfig) healthCheck(t *testing.T) (port int32, urlPath string) {
	t.Helper()
	hc, ok := c.get("extensions", "health_check").(map[string]any)
	if !ok {
		t.Fatal("the config has no health_check extension")
	}
	exts, _ := c.get("service", "extensions").([]any)
	if !slices.Contains(exts, any("health_check")) {
		t.Error("health_check is not in service.extensions")
	}
	_, p, err := net.SplitHostPort(fmt.Sprint(hc["endpoint"]))
	if err != nil {
		t.Fatalf("health_check endpoint %v: %v", hc["endpoint"], err)
	}
	n, _ := strconv.Atoi(p)
	urlPath = "/"
	if s, ok := hc["path"].(string); ok && s != "" {
		urlPath = s
	}
	return int32(n), urlPath
}

// filePaths returns every file or directory the config names (TLS files, token files, the
// file_storage directory).
func (c collectorConfig) filePaths() map[string]string {
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, vv := range x {
				p := prefix + "." + k
				if s, ok := vv.(string); ok && (strings.HasSuffix(k, "_file") || k == "filename" || k == "directory") {
					out[p] = s
				}
				walk(p, vv)
			}
		case []any:
			for i, vv := range x {
				walk(fmt.Sprintf("%s[%d]", prefix, i), vv)
			}
		}
	}
	walk("", c.tree)
	return out
}

var envRef = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// configOf finds the collector config the container runs: its --config argument, the volume
// mounted there, and the ConfigMap key behind it.
func configOf(t *testing.T, m *manifests, c corev1.Container, volumes map[string]corev1.Volume) collectorConfig {
	t.Helper()
	args := append(append([]string{}, c.Command...), c.Args...)
	cfgPath := ""
	for i, a := range args {
		if a == "--config" && i+1 < len(args) {
			cfgPath = args[i+1]
		} else if v, ok := strings.CutPrefix(a, "--config="); ok {
			cfgPath = v
		}
	}
	if cfgPath == "" {
		t.Fatalf("container %q has no --config argument", c.Name)
	}
	for _, vm := range c.VolumeMounts {
		key := ""
		switch {
		case vm.MountPath == cfgPath && vm.SubPath != "":
			key = vm.SubPath
		case path.Dir(cfgPath) == vm.MountPath:
			key = path.Base(cfgPath)
		default:
			continue
		}
		v := volumes[vm.Name]
		if v.ConfigMap == nil {
			t.Fatalf("--config %s is mounted from volume %q, which is not a ConfigMap", cfgPath, vm.Name)
		}
		cm, ok := m.configMaps[v.ConfigMap.Name]
		if !ok {
			t.Fatalf("ConfigMap %q missing", v.ConfigMap.Name)
		}
		text, ok := cm.Data[key]
		if !ok {
			t.Fatalf("ConfigMap %q has no key %q (the container's --config %s)", cm.Name, key, cfgPath)
		}
		var tree map[string]any
		if err := yaml.UnmarshalStrict([]byte(text), &tree); err != nil {
			t.Fatalf("ConfigMap %q key %q: %v", cm.Name, key, err)
		}
		return collectorConfig{text: text, tree: tree}
	}
	t.Fatalf("--config %s is on no volume mount of container %q", cfgPath, c.Name)
	return collectorConfig{}
}

func checkCollectorContainer(t *testing.T, m *manifests, c corev1.Container, volumes map[string]corev1.Volume) {
	cfg := configOf(t, m, c, volumes)

	// Ports: every container port is a non-loopback listener of the config and vice versa.
	ports := map[int32]corev1.ContainerPort{}
	for _, p := range c.Ports {
		ports[p.ContainerPort] = p
		if p.HostPort != 0 {
			t.Errorf("container port %d has hostPort %d: use the Service", p.ContainerPort, p.HostPort)
		}
	}
	seen := map[int32]bool{}
	for _, l := range cfg.listeners(t) {
		seen[l.port] = true
		_, exposed := ports[l.port]
		switch {
		case exposed && loopback(l.host):
			t.Errorf("%s listens on %s:%d, unreachable through container port %d", l.what, l.host, l.port, l.port)
		case !exposed && !loopback(l.host):
			t.Errorf("%s listens on %s:%d but the container declares no port %d", l.what, l.host, l.port, l.port)
		}
	}
	for p := range ports {
		if !seen[p] {
			t.Errorf("container port %d: nothing in the config listens on it", p)
		}
	}

	// Probes on health_check.
	hcPort, hcPath := cfg.healthCheck(t)
	for name, pr := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
		if pr == nil {
			if name != "startup" {
				t.Errorf("no %s probe", name)
			}
			continue
		}
		if pr.HTTPGet == nil {
			t.Errorf("%s probe is not an httpGet on health_check", name)
			continue
		}
		if got := resolvePort(t, c, pr.HTTPGet.Port); got != hcPort {
			t.Errorf("%s probe port %s is %d, health_check listens on %d", name, pr.HTTPGet.Port.String(), got, hcPort)
		}
		if pr.HTTPGet.Path != hcPath {
			t.Errorf("%s probe path %q, health_check serves %q", name, pr.HTTPGet.Path, hcPath)
		}
	}

	// memory_limiter below the container's memory limit.
	if lim, ok := cfg.get("processors", "memory_limiter", "limit_mib").(float64); ok {
		mem := c.Resources.Limits[corev1.ResourceMemory]
		if limMiB := mem.Value() >> 20; int64(lim) >= limMiB {
			t.Errorf("memory_limiter.limit_mib %v is not below the container's memory limit (%d MiB)", lim, limMiB)
		}
	} else {
		t.Error("no memory_limiter.limit_mib in the config")
	}

	// Every file the config names is on a volume; the queue directory on a writable one.
	for key, p := range cfg.filePaths() {
		if strings.Contains(p, "${") {
			t.Errorf("config %s = %q: write a literal path in a deployed config", key, p)
			continue
		}
		vm := mountFor(c, p)
		if vm == nil {
			t.Errorf("config %s = %q is on no volume (the root filesystem is read-only)", key, p)
			continue
		}
		if strings.HasSuffix(key, ".directory") && vm.ReadOnly {
			t.Errorf("config %s = %q is on read-only mount %q", key, p, vm.Name)
		}
	}
	// hostPath mounts are read-only, except the one holding the persistent queue.
	queueDir, _ := cfg.get("extensions", "file_storage", "directory").(string)
	for _, vm := range c.VolumeMounts {
		if v := volumes[vm.Name]; v.HostPath != nil && !vm.ReadOnly && !(queueDir != "" && within(queueDir, vm.MountPath)) {
			t.Errorf("hostPath volume %q is mounted read-write and is not the queue", vm.Name)
		}
	}

	// Every ${env:X} without a default is set on the container.
	env := containerEnv(m, c)
	for _, ref := range envRef.FindAllStringSubmatch(cfg.text, -1) {
		if _, ok := env[ref[1]]; !ok && ref[2] == "" {
			t.Errorf("the config reads ${env:%s} and the container does not set it", ref[1])
		}
	}
	validateWithBinary(t, cfg.text, env)
}

func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

func mountFor(c corev1.Container, p string) *corev1.VolumeMount {
	var best *corev1.VolumeMount
	for i, vm := range c.VolumeMounts {
		if within(p, vm.MountPath) && (best == nil || len(vm.MountPath) > len(best.MountPath)) {
			best = &c.VolumeMounts[i]
		}
	}
	return best
}

func resolvePort(t *testing.T, c corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	t.Errorf("container %q has no port named %q", c.Name, p.StrVal)
	return -1
}

// containerEnv is the container's environment as far as the manifests tell it: literal values,
// the keys of envFrom Secrets/ConfigMaps in the manifests, and a stand-in for fieldRefs.
func containerEnv(m *manifests, c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.SecretRef != nil {
			s := m.secrets[ef.SecretRef.Name]
			for k, v := range s.StringData {
				env[ef.Prefix+k] = v
			}
			for k, v := range s.Data {
				env[ef.Prefix+k] = string(v)
			}
		}
		if ef.ConfigMapRef != nil {
			for k, v := range m.configMaps[ef.ConfigMapRef.Name].Data {
				env[ef.Prefix+k] = v
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil:
			env[e.Name] = "from-" + strings.ReplaceAll(e.ValueFrom.FieldRef.FieldPath, ".", "-")
		default:
			env[e.Name] = "from-a-reference"
		}
	}
	return env
}

// collectorBinary is OTELCOL_BIN or bin/otelcol-mlflow (what `make build` makes), "" when absent.
func collectorBinary(t *testing.T) string {
	t.Helper()
	p := os.Getenv("OTELCOL_BIN")
	if p == "" {
		p = filepath.Join("..", "bin", "otelcol-mlflow")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		return ""
	}
	return abs
}

// validateWithBinary runs `otelcol-mlflow validate` on the config with the given environment
// (and nothing else of this process's, so a developer's MLFLOW_* cannot hide a missing variable).
func validateWithBinary(t *testing.T, config string, env map[string]string) {
	t.Helper()
	t.Run("validate", func(t *testing.T) {
		bin := collectorBinary(t)
		if bin == "" {
			t.Skip("no collector binary: set OTELCOL_BIN or run `make build` (make test does)")
		}
		dir := t.TempDir()
		file := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "validate", "--config", file)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
		keys := make([]string, 0, len(env))
		for k := range env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			cmd.Env = append(cmd.Env, k+"="+env[k])
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("otelcol-mlflow validate: %v\n%s", err, out)
		}
	})
}

func checkService(t *testing.T, m *manifests, s corev1.Service) {
	var target *workload
	for _, w := range m.workloads() {
		match := len(s.Spec.Selector) > 0
		for k, v := range s.Spec.Selector {
			if w.pod.Labels[k] != v {
				match = false
			}
		}
		if match {
			if target != nil {
				t.Fatalf("selector %v matches several workloads", s.Spec.Selector)
			}
			target = &w
		}
	}
	if target == nil {
		t.Fatalf("selector %v matches no workload in %s", s.Spec.Selector, m.file)
	}
	c := target.pod.Spec.Containers[0]
	for _, p := range s.Spec.Ports {
		tp := p.TargetPort
		if tp.Type == intstr.Int && tp.IntVal == 0 {
			tp = intstr.FromInt32(p.Port)
		}
		got := resolvePort(t, c, tp)
		found := false
		for _, cp := range c.Ports {
			if cp.ContainerPort == got {
				found = true
			}
		}
		if !found {
			t.Errorf("port %q: target %s is no container port of %s", p.Name, tp.String(), target.name)
		}
		if p.Port != got {
			t.Errorf("port %q: service port %d differs from container port %d (senders dial the config's port)", p.Name, p.Port, got)
		}
	}
}

// TestDockerfile checks what can be checked without docker: a numeric non-root USER, the cgo
// build of ./cmd/otelcol-mlflow, and the default config it copies (its ports EXPOSEd, its
// health_check the HEALTHCHECK's port).
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	if !regexp.MustCompile(`(?m)^USER ([1-9][0-9]*)(:[0-9]+)?$`).MatchString(text) {
		t.Error("the runtime stage needs a numeric non-root USER (runAsNonRoot checks it)")
	}
	for _, want := range []string{"CGO_ENABLED=1", "go build -trimpath -o /out/otelcol-mlflow ./cmd/otelcol-mlflow", "HEALTHCHECK", "COPY config/default.yaml /etc/otelcol-mlflow/config.yaml"} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Contains(text, "libnvidia-ml") && regexp.MustCompile(`(?m)^(COPY|ADD|RUN).*libnvidia-ml`).MatchString(text) {
		t.Error("the image must not bundle libnvidia-ml: it comes from the host's driver")
	}
	exposed := map[int32]bool{}
	for _, line := range regexp.MustCompile(`(?m)^EXPOSE (.+)$`).FindAllStringSubmatch(text, -1) {
		for _, f := range strings.Fields(line[1]) {
			n, err := strconv.Atoi(strings.TrimSuffix(f, "/tcp"))
			if err != nil {
				t.Errorf("EXPOSE %q", f)
			}
			exposed[int32(n)] = true
		}
	}
	def, err := os.ReadFile(filepath.Join("..", "config", "default.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The defaults of ${env:X:-default}: what the image runs with no environment.
	defText := envRef.ReplaceAllStringFunc(string(def), func(ref string) string {
		return strings.TrimPrefix(envRef.FindStringSubmatch(ref)[2], ":-")
	})
	var tree map[string]any
	if err := yaml.Unmarshal([]byte(defText), &tree); err != nil {
		t.Fatal(err)
	}
	cfg := collectorConfig{text: defText, tree: tree}
	for _, l := range cfg.listeners(t) {
		if !exposed[l.port] {
			t.Errorf("config/default.yaml %s listens on port %d, not EXPOSEd", l.what, l.port)
		}
	}
	hc, _ := cfg.healthCheck(t)
	if !strings.Contains(text, fmt.Sprintf("/dev/tcp/127.0.0.1/%d", hc)) {
		t.Errorf("HEALTHCHECK does not probe health_check's port %d", hc)
	}
	for _, f := range []string{"go.mod", "go.sum", "cmd/otelcol-mlflow"} {
		if _, err := os.Stat(filepath.Join("..", f)); err != nil {
			t.Errorf("the Dockerfile copies %s: %v", f, err)
		}
	}
}

// TestSystemdUnit checks the unit's paths: the config and environment files it reads are
// documented in docs/deploy.md, the repository files its install steps copy exist, and those
// configs validate with the binary.
func TestSystemdUnit(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("systemd", "otelcol-mlflow.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(raw)
	directive := func(key string) []string {
		var vs []string
		for _, m := range regexp.MustCompile(`(?m)^`+key+`=(.*)$`).FindAllStringSubmatch(unit, -1) {
			vs = append(vs, strings.TrimSpace(m[1]))
		}
		return vs
	}
	one := func(key string) string {
		vs := directive(key)
		if len(vs) != 1 {
			t.Fatalf("want one %s=, got %q", key, vs)
		}
		return vs[0]
	}
	execStart := one("ExecStart")
	cfgPath := regexp.MustCompile(`--config[ =](\S+)`).FindStringSubmatch(execStart)
	if cfgPath == nil {
		t.Fatalf("ExecStart %q has no --config", execStart)
	}
	envFile := strings.TrimPrefix(one("EnvironmentFile"), "-")
	if u := one("User"); u == "" || u == "root" || u == "0" {
		t.Errorf("User=%q: run as a dedicated user", u)
	}
	if r := one("Restart"); r != "on-failure" {
		t.Errorf("Restart=%s", r)
	}
	for _, k := range []string{"NoNewPrivileges", "ProtectSystem", "StateDirectory", "MemoryMax"} {
		one(k)
	}
	for key, forbidden := range map[string]string{"PrivateDevices": "yes", "ProtectProc": "invisible", "ProcSubset": "pid"} {
		if slices.Contains(directive(key), forbidden) {
			t.Errorf("%s=%s hides what the gpu receiver reads (/dev/nvidia*, /proc)", key, forbidden)
		}
	}
	docs, err := os.ReadFile(filepath.Join("..", "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{cfgPath[1], envFile} {
		if !strings.Contains(string(docs), p) {
			t.Errorf("docs/deploy.md does not mention %s, which the unit reads", p)
		}
	}
	// Repository files the install steps name.
	repoFiles := regexp.MustCompile(`\b((?:config|deploy)/[A-Za-z0-9_./-]+\.(?:yaml|env|service))\b`).FindAllStringSubmatch(unit, -1)
	if len(repoFiles) == 0 {
		t.Fatal("the unit's install steps name no example config")
	}
	var configs []string
	for _, f := range repoFiles {
		if _, err := os.Stat(filepath.Join("..", f[1])); err != nil {
			t.Errorf("the unit names %s: %v", f[1], err)
		}
		if strings.HasSuffix(f[1], ".yaml") && !slices.Contains(configs, f[1]) {
			configs = append(configs, f[1])
		}
	}
	// The example environment file parses as KEY=value lines.
	envExample, err := os.ReadFile(filepath.Join("systemd", "otelcol-mlflow.env"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OTELCOL_GATEWAY_ENDPOINT": "gateway.example.com:4317", "OTELCOL_HOST_NAME": "node042"}
	for i, line := range strings.Split(string(envExample), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(k) {
			t.Errorf("otelcol-mlflow.env line %d %q is not KEY=value", i+1, line)
		}
		env[k] = v
	}
	for _, c := range configs {
		raw, err := os.ReadFile(filepath.Join("..", c))
		if err != nil {
			continue
		}
		t.Run(c, func(t *testing.T) { validateWithBinary(t, string(raw), env) })
	}
}
