#!/usr/bin/env bash
# Runs examples/train (package tracking: run, params, model, plots straight
# to the store; metrics through the OTel Go SDK to the collector) against a
# real MLflow tracking server, with a collector exporting to the same server,
# and reads back with MLflow's own Python client what landed. Not run in CI.
#
#   test/realmlflow/train.sh http://127.0.0.1:5029
#
# Environment: OTELCOL_BIN (default bin/otelcol-mlflow), MLFLOW_PY (default
# /opt/realmlflow/mlflow-2.9.2), PYTHON (default /usr/bin/python3).
set -euo pipefail

uri=${1:?usage: $0 http://host:port (a real MLflow tracking server)}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
OTELCOL_BIN=$(realpath -m "${OTELCOL_BIN:-$root/bin/otelcol-mlflow}") # the collector runs in a work directory
mlflowpy=${MLFLOW_PY:-/opt/realmlflow/mlflow-2.9.2}
PYTHON=${PYTHON:-/usr/bin/python3}
[ -x "$OTELCOL_BIN" ] || { echo "no collector at $OTELCOL_BIN: make build, or set OTELCOL_BIN" >&2; exit 2; }
# shellcheck source=lib.sh
. "$here/lib.sh"

experiment="train-$(date +%s%N)"
work=$(mktemp -d)
start_collector "$uri" "$experiment" "$work"
trap stop_collector EXIT

# The example's own config, with this experiment and this collector.
sed -e "s|experiment_name: .*|experiment_name: \"$experiment\"|" \
	-e "s|endpoint: \"localhost:4317\"|endpoint: \"127.0.0.1:$GRPC_PORT\"|" \
	"$root/examples/train/config.yaml" >"$work/train.yaml"
grep -q "127.0.0.1:$GRPC_PORT" "$work/train.yaml" || { echo "examples/train/config.yaml changed shape" >&2; exit 2; }

echo "== examples/train -> $uri, experiment $experiment"
(cd "$root" && MLFLOW_TRACKING_URI=$uri go run ./examples/train -config "$work/train.yaml" -out "$work/out") | tee "$work/train.out"
model_uri=$(sed -n 's/^model logged as //p' "$work/train.out")

echo "== reading back with MLflow's client"
status=0
PYTHONPATH=$mlflowpy:$mlflowpy/_deps "$PYTHON" - "$uri" "$experiment" "$model_uri" <<'PY' || status=$?
import json, re, sys, time, urllib.request
from mlflow.tracking import MlflowClient

import mlflow

uri, experiment, model_uri = sys.argv[1:]
mlflow.set_tracking_uri(uri)  # the artifact repository resolves mlflow-artifacts: against it
c = MlflowClient(uri)
exp = c.get_experiment_by_name(experiment)
problems = []
runs = c.search_runs([exp.experiment_id], run_view_type=3)
if len(runs) != 1:
    print("%d runs, want 1" % len(runs))
    sys.exit(1)
run_id = runs[0].info.run_id
# Metrics arrive through the collector: wait for all 40 epochs.
keys = ["train_loss", "val_loss", "val_accuracy"]
deadline = time.time() + 30
while time.time() < deadline:
    hist = {k: c.get_metric_history(run_id, k) for k in keys}
    if all(len(h) >= 40 for h in hist.values()):
        break
    time.sleep(0.5)
r = c.get_run(run_id)
arts = sorted(a.path for a in c.list_artifacts(run_id))
nested = {}
for d in arts:
    nested[d] = sorted(a.path for a in c.list_artifacts(run_id, d)) if not d.endswith((".png", ".json")) else []
report = {
    "run": r.info.run_name, "status": r.info.status, "lifecycle": r.info.lifecycle_stage,
    "params": r.data.params, "tags": {k: v for k, v in r.data.tags.items() if not k.startswith("mlflow.note")},
    "metric_counts": {k: len(c.get_metric_history(run_id, k)) for k in sorted(r.data.metrics)},
    "artifacts": nested,
}
print(json.dumps(report, indent=1, sort_keys=True))
if r.info.status != "FINISHED":
    problems.append("status %s" % r.info.status)
want_params = {"learning_rate": "0.1", "batch_size": "32", "num_epochs": "40", "l2": "0.001", "seed": "7", "samples": "2000"}
if r.data.params != want_params:
    problems.append("params %s, want %s" % (r.data.params, want_params))
for k in keys:
    steps = sorted(m.step for m in c.get_metric_history(run_id, k))
    if steps != list(range(1, 41)):
        problems.append("%s steps %s, want 1..40 once each" % (k, steps))
if r.data.tags.get("example") != "examples/train":
    problems.append("tag example = %r" % r.data.tags.get("example"))
if not r.data.tags.get("mlflow.note.content"):
    problems.append("no note")
flat = json.dumps(nested)
for want in ["loss_curve.png", "confusion_matrix.png", "decision_boundary.png"]:
    if want not in flat:
        problems.append("artifact plots/%s missing" % want)


def get(path):
    with urllib.request.urlopen(uri + path) as resp:
        return json.load(resp)


if model_uri.startswith("models:/"):
    # MLflow 3: a logged model of its own, linked to the run.
    info = get("/api/2.0/mlflow/logged-models/" + model_uri[len("models:/"):])["model"]["info"]
    files = get("/api/2.0/mlflow-artifacts/artifacts?path=" + info["artifact_uri"][len("mlflow-artifacts:/"):]).get("files", [])
    report["logged_model"] = {"status": info["status"], "source_run_id": info["source_run_id"], "files": sorted(f["path"] for f in files)}
    print("logged model:", json.dumps(report["logged_model"]))
    if info["status"] != "LOGGED_MODEL_READY" or info["source_run_id"] != run_id:
        problems.append("logged model %s" % info)
    if sorted(f["path"] for f in files) != ["MLmodel", "model.json"]:
        problems.append("logged model files %s" % files)
else:
    for want in ["logreg_model/MLmodel", "logreg_model/model.json"]:
        if want not in flat:
            problems.append("artifact %s missing" % want)
# Stepped images, as MLflow's UI parses them: images/<key>%step%<n>%timestamp%<ms>%<id>.png,
# one per 10 epochs. Names read through the REST API, not a client that decodes them.
names = [f["path"] for f in get("/api/2.0/mlflow/artifacts/list?run_id=%s&path=images" % run_id).get("files", [])]
# The server unquotes upload paths until stable (MLflow issue 14136, docs/mapping.md section 10):
# "%10", "%20", ... after %step% and "%17..." after %timestamp% may be decoded, for MLflow's own
# client too. What the project guarantees: one image per logged step, each ending in an intact
# "%<id>.png" whose id starts with g-z; steps that survive are printed.
ids = re.compile(r"^images/decision_boundary%step.*%[g-z][0-9a-f]{31}\.png$", re.S)
if len(names) != 4 or not all(ids.match(n) for n in names):
    problems.append("stepped images: %r, want 4 ending in %%<g-z id>.png" % names)
pat = re.compile(r"^images/decision_boundary%step%(\d+)%timestamp%(\d+)%([A-Za-z0-9-]+)\.png$")
print("stepped image steps the server kept intact:", sorted(int(m.group(1)) for m in map(pat.match, names) if m),
      "of [10, 20, 30, 40]")
for p in problems:
    print("PROBLEM:", p)
print("%d problems" % len(problems))
sys.exit(1 if problems else 0)
PY
collector_problems
exit $status
