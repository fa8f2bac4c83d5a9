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
# PYTHON (default /usr/bin/python3), LOG_BATCH_RATE (a log-batch budget
# in requests/s, as on Databricks: points wait for full requests and each
# run's end sends what it holds; lib.sh). Exit status 0 when everything
# landed and every run was FINISHED within 30 s of its sender's end.
set -euo pipefail

uri=${1:?usage: $0 http://host:port (a real MLflow tracking server)}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=$(realpath -m "${OTELCOL_BIN:-$root/bin/otelcol-mlflow}") # the collector runs in a work directory
otelpy=${OTEL_PY:-/opt/realmlflow/otelpy}
mlflowpy=${MLFLOW_PY:-/opt/realmlflow/mlflow-2.9.2}
python=${PYTHON:-/usr/bin/python3}
[ -x "$bin" ] || { echo "no collector at $bin: make build, or set OTELCOL_BIN" >&2; exit 2; }

# shellcheck source=lib.sh
. "$here/lib.sh"
OTELCOL_BIN=$bin
experiment="python-sdk-$(date +%s%N)"
work=$(mktemp -d)
start_collector "$uri" "$experiment" "$work"
trap stop_collector EXIT

echo "== sending to $uri, experiment $experiment"
PYTHONPATH=$otelpy "$python" "$here/otel_sender.py" --protocol grpc --endpoint "127.0.0.1:$GRPC_PORT" --run-name py-grpc
PYTHONPATH=$otelpy "$python" "$here/otel_sender.py" --protocol http --endpoint "127.0.0.1:$HTTP_PORT" --run-name py-http

echo "== reading back with MLflow's client"
status=0
PYTHONPATH=$mlflowpy:$mlflowpy/_deps "$python" "$here/check_mlflow.py" --uri "$uri" --experiment "$experiment" \
	--runs py-grpc py-http --steps 12 --flush-every 4 || status=$?
collector_problems
exit $status
