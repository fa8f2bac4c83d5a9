"""A small training job instrumented with the OTel Python SDK.

Sends to a collector over OTLP gRPC or HTTP with the SDK's default
temporality (cumulative for every instrument), flushing every few steps as
a periodic reader would, and ends the run through the mlflow.run.end gauge.

    PYTHONPATH=/opt/realmlflow/otelpy /usr/bin/python3 otel_sender.py \
        --protocol grpc --endpoint 127.0.0.1:4317 --run-name py-grpc

Prints one JSON line with what it sent, for check_mlflow.py.
"""

import argparse
import json
import time

from opentelemetry.metrics import Observation  # noqa: F401  (API present)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", choices=["grpc", "http"], required=True)
    ap.add_argument("--endpoint", required=True, help="host:port of the collector's OTLP receiver")
    ap.add_argument("--run-name", required=True)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--flush-every", type=int, default=4)
    args = ap.parse_args()

    if args.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        exporter = OTLPMetricExporter(endpoint=args.endpoint, insecure=True)
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        exporter = OTLPMetricExporter(endpoint="http://%s/v1/metrics" % args.endpoint)

    resource = Resource.create(
        {
            "service.name": "py-trainer",
            "service.instance.id": "py-" + args.run_name,
            "host.name": "py-node",
            "mlflow.run.name": args.run_name,
            "mlflow.param.learning_rate": "0.01",
            "mlflow.param.batch_size": 64,
            "mlflow.tag.framework": "otel-python",
            "vcs.ref.head.revision": "cafef00d",
        }
    )
    # No temporality preference: the SDK's default (cumulative) is what
    # Python users get.
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    mp = MeterProvider(resource=resource, metric_readers=[reader])
    meter = mp.get_meter("train")

    loss = meter.create_gauge("train_loss")
    acc = meter.create_gauge("accuracy")
    samples = meter.create_counter("samples_seen")
    dur = meter.create_histogram("step_duration", unit="s")
    params = meter.create_gauge("mlflow.params")
    end = meter.create_gauge("mlflow.run.end")

    flushes = 0
    for step in range(args.steps):
        loss.set(1.0 / (step + 1), {"step": step})
        acc.set(step / 100.0, {"step": step, "split": "val"})
        samples.add(64)
        dur.record(0.15)
        if step == 2:
            params.set(1, {"best_epoch": 2})
        if (step + 1) % args.flush_every == 0:
            time.sleep(0.005)
            if not mp.force_flush(10_000):
                raise SystemExit("flush failed")
            flushes += 1
    end.set(1, {"status": "FINISHED"})
    time.sleep(0.005)
    if not mp.force_flush(10_000):
        raise SystemExit("flush failed")
    flushes += 1
    mp.shutdown()
    print(json.dumps({"run_name": args.run_name, "steps": args.steps, "flushes": flushes, "protocol": args.protocol}))


if __name__ == "__main__":
    main()
