// Package deploy holds the deployment files of otelcol-mlflow (a Dockerfile, Kubernetes
// manifests, a systemd unit); it has no code. Its tests decode every Kubernetes manifest
// strictly into the k8s.io/api types and check them against the collector configs they embed.
package deploy
