"""Reads back, with MLflow's own Python client, what otel_sender.py runs
left in a tracking server, and checks it. Exit status 1 on any mismatch.

    PYTHONPATH=/opt/realmlflow/mlflow-2.9.2:/opt/realmlflow/mlflow-2.9.2/_deps /usr/bin/python3 \
        check_mlflow.py --uri http://127.0.0.1:5029 --experiment NAME --runs py-grpc py-http \
        --steps 12 --flush-every 4
"""

import argparse
import json
import sys
import time

from mlflow.tracking import MlflowClient


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--uri", required=True)
    ap.add_argument("--experiment", required=True)
    ap.add_argument("--runs", nargs="+", required=True)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--flush-every", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=30)
    args = ap.parse_args()

    client = MlflowClient(tracking_uri=args.uri)
    problems = []
    report = {}
    deadline = time.time() + args.timeout
    exp = None
    while time.time() < deadline:
        exp = client.get_experiment_by_name(args.experiment)
        if exp is not None:
            runs = client.search_runs([exp.experiment_id], run_view_type=3)
            done = {r.info.run_name for r in runs if r.info.status == "FINISHED"}
            if all(n in done for n in args.runs):
                break
        time.sleep(0.5)
    if exp is None:
        print("experiment %s was never created" % args.experiment)
        return 1
    runs = client.search_runs([exp.experiment_id], run_view_type=3)  # ALL
    by_name = {}
    for r in runs:
        by_name.setdefault(r.info.run_name, []).append(r)
    for name in args.runs:
        rs = by_name.get(name, [])
        if len(rs) != 1:
            problems.append("%s: %d runs, want 1" % (name, len(rs)))
            continue
        r = client.get_run(rs[0].info.run_id)
        hist = {}
        for key in sorted(r.data.metrics):
            h = client.get_metric_history(r.info.run_id, key)
            hist[key] = sorted((m.step, m.value, m.timestamp) for m in h)
        report[name] = {
            "run_id": r.info.run_id,
            "status": r.info.status,
            "lifecycle": r.info.lifecycle_stage,
            "params": r.data.params,
            "tags": {k: v for k, v in r.data.tags.items()},
            "metric_counts": {k: len(v) for k, v in hist.items()},
        }

        def want(cond, what):
            if not cond:
                problems.append("%s: %s" % (name, what))

        want(r.info.status == "FINISHED", "status %s, want FINISHED" % r.info.status)
        want(r.info.lifecycle_stage == "active", "lifecycle %s" % r.info.lifecycle_stage)
        want(
            r.data.params == {"learning_rate": "0.01", "batch_size": "64", "best_epoch": "2"},
            "params %s" % r.data.params,
        )
        tags = r.data.tags
        for k, v in {
            "framework": "otel-python",
            "mlflow.source.git.commit": "cafef00d",
            "service.name": "py-trainer",
            "service.instance.id": "py-" + name,
            "host.name": "py-node",
            "mlflow.runName": name,
        }.items():
            want(tags.get(k) == v, "tag %s = %r, want %r" % (k, tags.get(k), v))
        steps = list(range(args.steps))
        for key, f in {"train_loss": lambda s: 1.0 / (s + 1), "accuracy/split_val": lambda s: s / 100.0}.items():
            h = hist.get(key, [])
            want([m[0] for m in h] == steps, "%s steps %s, want each of 0..%d once" % (key, [m[0] for m in h], args.steps - 1))
            for s, v, _ in h:
                want(abs(v - f(s)) < 1e-12, "%s step %d = %r, want %r" % (key, s, v, f(s)))
        # Cumulative: the counter's running total and the histogram's count
        # grow with each flush in the loop; the later exports (the run end's
        # flush, the SDK's shutdown) re-export the final totals with new
        # timestamps, each a point of its own.
        totals = [(i + 1) * args.flush_every for i in range(args.steps // args.flush_every)]
        for key, scale in {"samples_seen": 64.0, "step_duration.count": 1.0}.items():
            got = [v for _, v, _ in sorted(hist.get(key, []), key=lambda m: m[2])]
            want_prefix = [scale * n for n in totals]
            ok = got[: len(totals)] == want_prefix and len(got) > len(totals) and all(v == want_prefix[-1] for v in got[len(totals):])
            want(ok, "%s %s, want %s then the last total again" % (key, got, want_prefix))
        # The SDK's default buckets are (0, 5], (5, 10], ...: every duration
        # (0.15 s) is in the first one, and min = max = 0.15. A quantile
        # outside [min, max] is not an estimate of this data.
        mx = [v for _, v, _ in hist.get("step_duration.max", [])]
        mn = [v for _, v, _ in hist.get("step_duration.min", [])]
        want(mx and mn and mx[0] == 0.15 and mn[0] == 0.15, "step_duration.min/max %s %s" % (mn[:1], mx[:1]))
        p50 = hist.get("step_duration.p50", [])
        want(
            p50 and 0.15 - 1e-9 <= p50[0][1] <= 0.15 + 1e-9,
            "step_duration.p50 = %s, outside the observed [min, max] = [0.15, 0.15]" % (p50[0][1] if p50 else None),
        )
    print(json.dumps(report, indent=1, sort_keys=True))
    for p in problems:
        print("PROBLEM:", p)
    print("%d problems" % len(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
