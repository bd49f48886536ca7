"""Kubernetes helpers: offline validation of custom resources against CRD schemas, secret scanning."""
