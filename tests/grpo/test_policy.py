"""init_from resolution (directory or model manifest, local or S3) and the `[SEG]` model check."""

from __future__ import annotations

import json

import pytest

from components.grpo.policy import check_seg_model, resolve_model_uri
from vrt import storage
from vrt.errors import UserError


def _model_dir(root, fmt="rsa2va", tokens=("[SEG]",)):
    root.mkdir(parents=True)
    (root / "config.json").write_text(json.dumps({"format": fmt}))
    vocab = {t: i for i, t in enumerate(["a", *tokens])}
    (root / "tokenizer.json").write_text(
        json.dumps({"added_tokens": [{"content": t} for t in tokens], "vocab": vocab})
    )
    return root


def test_resolve_directory_and_manifest(tmp_path):
    d = _model_dir(tmp_path / "model")
    assert resolve_model_uri(str(d)) == str(d)
    manifest = tmp_path / "model_manifest.json"
    manifest.write_text(json.dumps({"uri": str(d), "sha256": "x"}))
    assert resolve_model_uri(str(manifest)) == str(d)
    artifact = tmp_path / "artifact_without_suffix"  # a KFP Model artifact file
    artifact.write_text(json.dumps({"uri": "s3://b/m"}))
    assert resolve_model_uri(str(artifact)) == "s3://b/m"


@pytest.mark.parametrize(
    "content, message",
    [("not json", "is not a model manifest"), (json.dumps({"path": "x"}), "is not a model manifest")],
)
def test_resolve_bad_manifest(tmp_path, content, message):
    f = tmp_path / "m.json"
    f.write_text(content)
    with pytest.raises(UserError, match=message):
        resolve_model_uri(str(f))


def test_resolve_empty_and_missing(tmp_path):
    with pytest.raises(UserError, match="grpo.init_from is empty"):
        resolve_model_uri("")
    with pytest.raises(UserError, match="does not exist"):
        resolve_model_uri(str(tmp_path / "nope.json"))


def test_check_seg_model(tmp_path):
    check_seg_model(str(_model_dir(tmp_path / "ok")))
    with pytest.raises(UserError, match=r"has no \[SEG\] token .*start from an R-Sa2VA SFT output"):
        check_seg_model(str(_model_dir(tmp_path / "noseg", tokens=("<p>",))))
    with pytest.raises(UserError, match=r"has no \[SEG\] token"):
        check_seg_model(str(_model_dir(tmp_path / "qwen", fmt="qwen3_vl")))
    with pytest.raises(UserError, match="is not a model directory"):
        check_seg_model(str(tmp_path))


def test_check_seg_model_on_s3(s3_bucket, tmp_path):
    storage.upload_dir(_model_dir(tmp_path / "m"), f"{s3_bucket}/models/m")
    check_seg_model(f"{s3_bucket}/models/m")
    storage.write_bytes(f"{s3_bucket}/m.json", json.dumps({"uri": f"{s3_bucket}/models/m"}).encode())
    assert resolve_model_uri(f"{s3_bucket}/m.json") == f"{s3_bucket}/models/m"
