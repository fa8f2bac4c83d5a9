# Shared by the scripts in test/realmlflow: a collector on free loopback
# ports that exports to a real MLflow tracking server.
#
# start_collector URI EXPERIMENT WORKDIR  sets GRPC_PORT, HTTP_PORT,
# COLLECTOR_PID and COLLECTOR_LOG, and waits until the health check answers.
# LOG_BATCH_RATE=N gives the exporter a log-batch budget of N requests/s
# (rate_limits.log_batch), as Databricks has one: each run's points then
# wait in the run spool for full requests, up to coalesce.max_delay.

: "${PYTHON:=/usr/bin/python3}"

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_collector() {
	local uri=$1 experiment=$2 work=$3 health metrics budget=""
	[ -n "${LOG_BATCH_RATE:-}" ] && budget="rate_limits: {log_batch: $LOG_BATCH_RATE}"
	GRPC_PORT=$(free_port) HTTP_PORT=$(free_port) health=$(free_port) metrics=$(free_port)
	COLLECTOR_LOG=$work/collector.log
	cat >"$work/config.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$GRPC_PORT
      http:
        endpoint: 127.0.0.1:$HTTP_PORT
exporters:
  mlflow:
    tracking_uri: $uri
    experiment_name: $experiment
    $budget
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
YAML
	(cd "$work" && exec env -u MLFLOW_TRACKING_URI "$OTELCOL_BIN" --config "$work/config.yaml") >"$COLLECTOR_LOG" 2>&1 &
	COLLECTOR_PID=$!
	for _ in $(seq 300); do
		curl -fsS "http://127.0.0.1:$health/" >/dev/null 2>&1 && return 0
		kill -0 "$COLLECTOR_PID" 2>/dev/null || { cat "$COLLECTOR_LOG"; return 1; }
		sleep 0.1
	done
	echo "collector not healthy after 30s" >&2
	return 1
}

stop_collector() {
	kill -TERM "$COLLECTOR_PID" 2>/dev/null || true
	wait "$COLLECTOR_PID" 2>/dev/null || true
	echo "collector log: $COLLECTOR_LOG"
}

collector_problems() {
	if grep -E '"level": *"(error|warn)"|	(error|warn)	|panic' "$COLLECTOR_LOG" >/dev/null; then
		echo "== collector warnings and errors:"
		grep -E '"level": *"(error|warn)"|	(error|warn)	|panic' "$COLLECTOR_LOG" | head -20
	fi
}
