#!/usr/bin/env bash
# Sends OTLP from the OTel Python SDK (gRPC and HTTP exporters, the SDK's
# default temporality) through the collector into a real MLflow tracking
# server, then reads back with MLflow's own Python client what landed: one
# run per sender, FINISHED, params, tags, every step once, cumulative
# counter and histogram totals. Not run in CI: it needs the real servers
# of ../shared/realmlflow (README.md there).
#
#   test/realmlflow/python_sdk.sh http://127.0.0.1:5029
#   OTELCOL_BIN=bin/otelcol-mlflow test/realmlflow/python_sdk.sh http://127.0.0.1:5030
#
# Environment: OTELCOL_BIN (default bin/otelcol-mlflow, `make build`),
# OTEL_PY (default /opt/realmlflow/otelpy), MLFLOW_PY (default
# /opt/realmlflow/mlflow-2.9.2, MLflow's client for the read-back),
# PYTHON (default /usr/bin/python3). Exit status 0 when everything landed.
set -euo pipefail

uri=${1:?usage: $0 http://host:port (a real MLflow tracking server)}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${OTELCOL_BIN:-$root/bin/otelcol-mlflow}
otelpy=${OTEL_PY:-/opt/realmlflow/otelpy}
mlflowpy=${MLFLOW_PY:-/opt/realmlflow/mlflow-2.9.2}
python=${PYTHON:-/usr/bin/python3}
[ -x "$bin" ] || { echo "no collector at $bin: make build, or set OTELCOL_BIN" >&2; exit 2; }

free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
grpc=$(free_port) http=$(free_port) health=$(free_port) metrics=$(free_port)
suffix=$(date +%s%N)
experiment="python-sdk-$suffix"
work=$(mktemp -d)
log=$work/collector.log

cat >"$work/config.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$grpc
      http:
        endpoint: 127.0.0.1:$http
exporters:
  mlflow:
    tracking_uri: $uri
    experiment_name: $experiment
    sending_queue:
      batch:
        flush_timeout: 100ms
extensions:
  health_check:
    endpoint: 127.0.0.1:$health
service:
  extensions: [health_check]
  telemetry:
    logs:
      level: info
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: $metrics
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [mlflow]
EOF

(cd "$work" && exec env -u MLFLOW_TRACKING_URI "$bin" --config "$work/config.yaml") >"$log" 2>&1 &
collector=$!
cleanup() {
	kill -TERM "$collector" 2>/dev/null || true
	wait "$collector" 2>/dev/null || true
	echo "collector log: $log"
}
trap cleanup EXIT
for _ in $(seq 300); do
	curl -fsS "http://127.0.0.1:$health/" >/dev/null 2>&1 && break
	kill -0 "$collector" 2>/dev/null || { cat "$log"; exit 1; }
	sleep 0.1
done

echo "== sending to $uri, experiment $experiment"
PYTHONPATH=$otelpy "$python" "$here/otel_sender.py" --protocol grpc --endpoint "127.0.0.1:$grpc" --run-name py-grpc
PYTHONPATH=$otelpy "$python" "$here/otel_sender.py" --protocol http --endpoint "127.0.0.1:$http" --run-name py-http

echo "== reading back with MLflow's client"
status=0
PYTHONPATH=$mlflowpy:$mlflowpy/_deps "$python" "$here/check_mlflow.py" --uri "$uri" --experiment "$experiment" \
	--runs py-grpc py-http --steps 12 --flush-every 4 || status=$?
if grep -E '"level": *"(error|warn)"|\berror\b|panic' "$log" >/dev/null; then
	echo "== collector warnings and errors:"
	grep -E '"level": *"(error|warn)"|\berror\b|panic' "$log" | head -20
fi
exit $status
