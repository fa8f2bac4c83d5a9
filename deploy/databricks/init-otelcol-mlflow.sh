#!/bin/bash
# Cluster-scoped init script for otelcol-mlflow (docs/databricks.md).
#
# Databricks runs it as root on the driver and on every worker when a node
# starts. It installs the collector from a Unity Catalog volume (or any
# path mounted on the node), keeps the workspace credentials that the
# cluster passes in from a secret scope in a root-only file, and starts the
# collector under a supervisor, listening on localhost:4317 (OTLP gRPC) and
# localhost:4318 (OTLP HTTP).
#
# Environment (cluster spark_env_vars; secrets as {{secrets/<scope>/<key>}}):
#   DATABRICKS_HOST                     workspace URL (required)
#   DATABRICKS_CLIENT_ID/_CLIENT_SECRET service principal, OAuth M2M (preferred), or
#   DATABRICKS_TOKEN                    a personal access token
#   OTELCOL_MLFLOW_EXPERIMENT           default experiment (absolute path), default /Shared/otelcol-mlflow
#   OTELCOL_MLFLOW_SOURCE               folder holding otelcol-mlflow and config.yaml,
#                                       default /Volumes/main/default/otelcol
#   OTELCOL_MLFLOW_STRICT=1             fail the node start on a setup problem; by default the
#                                       script reports it and lets the cluster start without telemetry
set -euo pipefail

SOURCE="${OTELCOL_MLFLOW_SOURCE:-/Volumes/main/default/otelcol}"
PREFIX=/opt/otelcol-mlflow
DATA=/local_disk0/otelcol-mlflow
[ -d /local_disk0 ] || DATA=/var/lib/otelcol-mlflow
LOG=/var/log/otelcol-mlflow.log

fail() {
	echo "otelcol-mlflow init: $*" >&2
	if [ "${OTELCOL_MLFLOW_STRICT:-0}" = 1 ]; then
		exit 1
	fi
	exit 0
}

[ -n "${DATABRICKS_HOST:-}" ] || fail "DATABRICKS_HOST is not set in the cluster's environment variables"
if [ -z "${DATABRICKS_TOKEN:-}" ] && { [ -z "${DATABRICKS_CLIENT_ID:-}" ] || [ -z "${DATABRICKS_CLIENT_SECRET:-}" ]; }; then
	fail "no credentials: set DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET (or DATABRICKS_TOKEN) from a secret scope"
fi
[ -x "$SOURCE/otelcol-mlflow" ] || [ -f "$SOURCE/otelcol-mlflow" ] || fail "$SOURCE/otelcol-mlflow not found"
[ -f "$SOURCE/config.yaml" ] || fail "$SOURCE/config.yaml not found"

install -d -m 0755 "$PREFIX"
install -d -m 0700 "$DATA"
install -m 0755 "$SOURCE/otelcol-mlflow" "$PREFIX/otelcol-mlflow"
install -m 0644 "$SOURCE/config.yaml" "$PREFIX/config.yaml"

# Secrets stay out of the config file and out of process arguments: the
# collector reads them from its environment, loaded from a root-only file.
umask 077
{
	for v in DATABRICKS_HOST DATABRICKS_CLIENT_ID DATABRICKS_CLIENT_SECRET DATABRICKS_TOKEN \
		OTELCOL_MLFLOW_EXPERIMENT DB_CLUSTER_ID DB_CLUSTER_NAME DB_IS_DRIVER; do
		if [ -n "${!v:-}" ]; then
			printf '%s=%q\n' "$v" "${!v}"
		fi
	done
	printf 'OTELCOL_MLFLOW_DATA=%q\n' "$DATA"
} >"$PREFIX/env"
umask 022

cat >"$PREFIX/run.sh" <<'RUN'
#!/bin/bash
set -a
. /opt/otelcol-mlflow/env
set +a
exec /opt/otelcol-mlflow/otelcol-mlflow --config /opt/otelcol-mlflow/config.yaml
RUN
chmod 0755 "$PREFIX/run.sh"

if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && command -v systemctl >/dev/null; then
	cat >/etc/systemd/system/otelcol-mlflow.service <<UNIT
[Unit]
Description=otelcol-mlflow: OTLP metrics into Databricks MLflow
After=network-online.target

[Service]
ExecStart=$PREFIX/run.sh
Restart=always
RestartSec=5
# Let the exporter flush its queue on stop.
TimeoutStopSec=60

[Install]
WantedBy=multi-user.target
UNIT
	systemctl daemon-reload
	systemctl enable --now otelcol-mlflow.service
else
	# No systemd: a detached restart loop, so a crash does not end telemetry.
	setsid nohup bash -c "while true; do $PREFIX/run.sh; echo \"otelcol-mlflow exited (\$?), restarting in 5 s\"; sleep 5; done" \
		>>"$LOG" 2>&1 </dev/null &
fi

# Wait briefly for the health check so a misconfiguration shows in the
# init script log rather than only in $LOG.
for _ in $(seq 1 30); do
	if curl -fsS -o /dev/null http://localhost:13133/ 2>/dev/null; then
		echo "otelcol-mlflow init: collector healthy on $(hostname)"
		exit 0
	fi
	sleep 1
done
fail "collector not healthy after 30 s; see $LOG or journalctl -u otelcol-mlflow"
