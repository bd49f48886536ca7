"""InferenceService rendering (schema-valid against the KServe CRD), its config checks, apply/wait logic."""

from __future__ import annotations

import copy

import pytest
from kubernetes.client.exceptions import ApiException

from components.deploy.isvc import DeployConfig, inference_service
from components.deploy.kube import apply_inference_service, wait_ready
from vrt.errors import UserError
from vrt.k8s.crds import validate_custom_resource

S3 = DeployConfig(name="vrt-tiny", model_uri="s3://models/vrt-tiny/v3", canary_percent=10, s3_secret="vrt-s3")
REG = DeployConfig(
    name="vrt-reg",
    model_uri="models:/vrt-tiny/3",
    tracking_uri="http://mlflow.vrt:5000",
    deployment_mode="Serverless",
    gpus=2,
    max_replicas=3,
)


HOME_ENV = {"name": "HOME", "value": "/tmp"}


@pytest.mark.parametrize("cfg", [S3, REG], ids=["s3", "registry"])
def test_inference_service_is_schema_valid(cfg, shared_dir):
    validate_custom_resource(inference_service(cfg), shared_dir / "crds")


def test_s3_inference_service_fields():
    obj = inference_service(S3)
    predictor = obj["spec"]["predictor"]
    [container] = predictor["containers"]
    assert obj["metadata"]["annotations"] == {"serving.kserve.io/deploymentMode": "RawDeployment"}
    assert predictor["canaryTrafficPercent"] == 10
    assert predictor["serviceAccountName"] == "vrt-predictor"
    assert predictor["labels"] == {"vrt.io/role": "predictor"}
    assert predictor["nodeSelector"] == {"vrt.dev/gpu-pool": "true"}
    assert predictor["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
    ]
    assert container["env"] == [{"name": "STORAGE_URI", "value": "s3://models/vrt-tiny/v3"}, HOME_ENV]
    assert container["envFrom"] == [{"secretRef": {"name": "vrt-s3"}}]
    assert container["args"][:2] == ["--model_uri", "/mnt/models"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["resources"]["requests"]["nvidia.com/gpu"] == 1


def test_registry_inference_service_fields():
    predictor = inference_service(REG)["spec"]["predictor"]
    [container] = predictor["containers"]
    assert "canaryTrafficPercent" not in predictor and "envFrom" not in container
    assert container["env"] == [{"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow.vrt:5000"}, HOME_ENV]
    assert container["args"][:2] == ["--model_uri", "models:/vrt-tiny/3"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 3)


def test_schema_catches_a_broken_object(shared_dir):
    obj = inference_service(S3)
    obj["spec"]["predictor"]["canaryTrafficPercent"] = "ten"
    with pytest.raises(ValueError, match="canaryTrafficPercent"):
        validate_custom_resource(obj, shared_dir / "crds")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Bad_Name"}, "must be a DNS label"),
        ({"model_uri": "/local/dir"}, "must be s3://... or models:/"),
        ({"model_uri": "models:/m/1"}, "needs tracking_uri"),
        ({"deployment_mode": "Knative"}, "use one of Serverless, RawDeployment"),
        ({"canary_percent": 101}, "within 0..100"),
        ({"min_replicas": 2, "max_replicas": 1}, "min_replicas <= max_replicas"),
    ],
)
def test_config_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DeployConfig(**{"name": "ok", "model_uri": "s3://b/m", **kwargs})


class InMemoryApi:
    """The CustomObjectsApi calls used by kube.py over a dict; missing objects raise the client's ApiException."""

    def __init__(self, statuses=()):
        self.objects, self.calls, self.statuses = {}, [], list(statuses)

    def get_namespaced_custom_object(self, group, version, namespace, plural, name):
        self.calls.append("get")
        if (namespace, name) not in self.objects:
            raise ApiException(status=404, reason="Not Found")
        obj = self.objects[(namespace, name)]
        if self.statuses:
            obj["status"] = self.statuses.pop(0)
        return copy.deepcopy(obj)

    def create_namespaced_custom_object(self, group, version, namespace, plural, body):
        self.calls.append("create")
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = "1"
        self.objects[(namespace, body["metadata"]["name"])] = stored
        return stored

    def replace_namespaced_custom_object(self, group, version, namespace, plural, name, body):
        self.calls.append("replace")
        assert (
            body["metadata"]["resourceVersion"]
            == self.objects[(namespace, name)]["metadata"]["resourceVersion"]
        )
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(int(body["metadata"]["resourceVersion"]) + 1)
        self.objects[(namespace, name)] = stored
        return stored


def test_apply_creates_then_replaces():
    api = InMemoryApi()
    obj = inference_service(S3)
    assert apply_inference_service(obj, api=api)["metadata"]["resourceVersion"] == "1"
    changed = inference_service(DeployConfig(name="vrt-tiny", model_uri="s3://models/vrt-tiny/v4"))
    assert apply_inference_service(changed, api=api)["metadata"]["resourceVersion"] == "2"
    assert api.calls == ["get", "create", "get", "replace"]
    stored = api.objects[("vrt", "vrt-tiny")]
    assert stored["spec"]["predictor"]["containers"][0]["env"][0]["value"] == "s3://models/vrt-tiny/v4"


def test_wait_ready_returns_url_and_times_out():
    not_ready = {
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "RevisionMissing", "message": "pulling"}
        ]
    }
    ready = {"conditions": [{"type": "Ready", "status": "True"}], "url": "http://vrt-tiny.vrt.example.com"}
    api = InMemoryApi(statuses=[{}, not_ready, ready])
    apply_inference_service(inference_service(S3), api=api)
    assert wait_ready("vrt-tiny", "vrt", timeout=5, api=api, poll=0.01) == "http://vrt-tiny.vrt.example.com"
    assert api.calls.count("get") == 4
    api = InMemoryApi(statuses=[not_ready] * 1000)
    apply_inference_service(inference_service(S3), api=api)
    with pytest.raises(UserError, match=r"not Ready after 0s \(RevisionMissing: pulling\)"):
        wait_ready("vrt-tiny", "vrt", timeout=0.05, api=api, poll=0.01)


def test_predictor_container_is_hardened():
    isvc = inference_service(DeployConfig(name="vrt", model_uri="s3://models/vrt-tiny/v3"))
    predictor = isvc["spec"]["predictor"]
    ctx = predictor["containers"][0]["securityContext"]
    assert ctx == {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert predictor["containers"][0]["volumeMounts"] == [{"name": "scratch", "mountPath": "/tmp"}]
    assert predictor["volumes"] == [{"name": "scratch", "emptyDir": {}}]
