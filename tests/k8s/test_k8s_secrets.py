"""vrt.k8s.secrets: the scanner finds every embedded secret and accepts references."""

from __future__ import annotations

import pytest

from vrt.k8s.secrets import find_embedded_secrets

REFERENCED = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "ok"},
    "spec": {"template": {"spec": {
        "containers": [{
            "name": "c",
            "env": [
                {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                {"name": "PGPASSWORD", "value": "$(FROM_ELSEWHERE)"},
                {"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow:5000"},
            ],
            "args": ["--backend-store-uri=postgresql://mlflow@db:5432/mlflow"],
        }],
        "volumes": [{"name": "s", "secret": {"secretName": "creds"}}],
    }}},
}


def test_references_are_not_findings():
    assert find_embedded_secrets([REFERENCED, {"kind": "ConfigMap", "metadata": {"name": "c"},
                                               "data": {"VRT_S3_CREDENTIALS_SECRET_NAME": "vrt-s3"}}]) == []


def test_each_kind_of_embedded_secret_is_found_with_its_path():
    doc = {
        "kind": "Pod",
        "metadata": {"name": "leaky"},
        "spec": {"containers": [{
            "name": "c",
            "env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": "wJalrXUtnFEMIbPxRfiCY"}],
            "args": ["--uri=postgresql://mlflow:hunter22@db/mlflow", "--key=AKIAIOSFODNN7EXAMPLE"],
            "command": ["curl", "-H", "Authorization: Bearer abcdefghijklmnopqrstuvwx"],
        }]},
        "password": "plain",
    }
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}}
    assert find_embedded_secrets([doc, secret], known_values=["hunter22"]) == [
        "Pod/leaky.spec.containers[0].env[0]: env AWS_SECRET_ACCESS_KEY has a literal value (use valueFrom.secretKeyRef)",
        "Pod/leaky.spec.containers[0].args[0]: URI with an inline password",
        "Pod/leaky.spec.containers[0].args[0]: contains a known secret value",
        "Pod/leaky.spec.containers[0].args[1]: AWS access key id",
        "Pod/leaky.spec.containers[0].command[2]: bearer token",
        "Pod/leaky.password: secret-looking key holds a literal string",
        "Secret/s: a Secret with inline data (create it outside the chart and reference it)",
    ]


def test_known_values_must_be_long_enough():
    with pytest.raises(ValueError, match="at least 6 characters"):
        find_embedded_secrets([{}], known_values=["abc"])
