"""vrt.k8s.crds: custom resources checked against the real KServe / KubeRay CRD schemas."""

from __future__ import annotations

import copy

import pytest

from vrt.k8s.crds import validate_custom_resource

RAYJOB = {
    "apiVersion": "ray.io/v1",
    "kind": "RayJob",
    "metadata": {"name": "sft-0"},
    "spec": {
        "entrypoint": "python -m components.sft.recipe",
        "rayClusterSpec": {
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "head", "image": "vrt-train:0.1.0",
                                                       "resources": {"limits": {"cpu": 2, "memory": "8Gi"}}}]}},
            },
            "workerGroupSpecs": [{
                "groupName": "gpu", "replicas": 2, "rayStartParams": {},
                "template": {"spec": {
                    "containers": [{"name": "worker", "image": "vrt-train:0.1.0",
                                    "resources": {"limits": {"nvidia.com/gpu": 1}}}],
                    "nodeSelector": {"vrt.dev/gpu-pool": "true"},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                }},
            }],
        },
    },
}
ISVC = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {"name": "vrt-4b"},
    "spec": {"predictor": {"model": {"modelFormat": {"name": "vrt"}, "runtime": "vrt-predictor",
                                     "storageUri": "s3://vrt/models/4b"}}},
}


@pytest.fixture()
def crds(shared_dir):
    return shared_dir / "crds"


def test_valid_rayjob_and_inference_service_pass(crds):
    validate_custom_resource(RAYJOB, crds)  # defaulted required fields (minReplicas...) may be absent
    validate_custom_resource(ISVC, crds)


def test_every_error_is_listed_with_its_path(crds):
    bad = copy.deepcopy(RAYJOB)
    bad["spec"]["entrypointt"] = "typo"
    worker = bad["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]
    worker["replicas"] = "two"
    del worker["groupName"]
    with pytest.raises(ValueError) as err:
        validate_custom_resource(bad, crds)
    lines = str(err.value).splitlines()
    assert lines[0] == "RayJob 'sft-0' does not match the ray.io/v1 CRD schema:"
    assert lines[1:] == [
        "  spec: Additional properties are not allowed ('entrypointt' was unexpected)",
        "  spec.rayClusterSpec.workerGroupSpecs.0: 'groupName' is a required property",
        "  spec.rayClusterSpec.workerGroupSpecs.0.replicas: 'two' is not of type 'integer'",
    ]


def test_int_or_string_quantities_are_accepted_and_checked(crds):
    ok = copy.deepcopy(ISVC)
    ok["spec"]["predictor"]["model"]["resources"] = {"limits": {"cpu": 4, "memory": "16Gi", "nvidia.com/gpu": "1"}}
    validate_custom_resource(ok, crds)
    bad = copy.deepcopy(ok)
    bad["spec"]["predictor"]["model"]["resources"]["limits"]["memory"] = "16 gigs"
    with pytest.raises(ValueError, match=r"spec.predictor.model.resources.limits.memory: '16 gigs' does not match"):
        validate_custom_resource(bad, crds)


def test_preserve_unknown_fields_are_tolerated(crds):
    ok = copy.deepcopy(RAYJOB)
    ok["spec"]["runtimeEnvYAML"] = "pip: [x]"
    ok["spec"]["metadata"] = {"team": "vrt"}
    validate_custom_resource(ok, crds)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda o: o.update(apiVersion="ray.io/v9"), "RayJob version 'v9' is not served by rayjobs.ray.io; use apiVersion ray.io/<one of ['v1', 'v1alpha1']>"),
        (lambda o: o.update(kind="RayThing"), "no CRD for kind 'RayThing' in group 'ray.io'"),
        (lambda o: o.update(apiVersion="v1"), "not a custom resource: apiVersion='v1'"),
        (lambda o: o["metadata"].pop("name"), "metadata.name: missing; set metadata.name"),
        (lambda o: o["metadata"].update(name="Bad_Name"), "metadata.name: 'Bad_Name' is not a DNS subdomain name"),
    ],
)
def test_wrong_kind_version_or_name_is_explained(crds, mutate, message):
    obj = copy.deepcopy(RAYJOB)
    mutate(obj)
    with pytest.raises(ValueError) as err:
        validate_custom_resource(obj, crds)
    assert message in str(err.value)


def test_missing_crd_dir_is_explained(tmp_path):
    with pytest.raises(ValueError, match="CRD directory .*/nope does not exist"):
        validate_custom_resource(RAYJOB, tmp_path / "nope")
