"""The registered model is an MLflow model: `mlflow.pyfunc.load_model("models:/vrt-tiny@champion")`
answers like the model server does, and `mlflow models serve` serves it (real tiny model, real MLflow
server on loopback with S3 artifacts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
import registry_server

from components.deploy.response import build_result
from components.register.gate import GateConfig
from components.register.mlflow_model import input_example
from components.register.step import register_model

pytestmark = pytest.mark.slow
mlflow_server = registry_server.mlflow_server
URI = "models:/vrt-tiny@champion"


@pytest.fixture(scope="module")
def tiny(mlflow_server, tmp_path_factory):
    """The tiny model saved, registered as vrt-tiny (champion), and loaded directly for comparison."""
    from models import RSa2VA, load_preset

    tmp = tmp_path_factory.mktemp("tiny")
    model = RSa2VA.from_preset(load_preset("tiny"), seed=0)
    model.save_pretrained(tmp / "model")
    artifact = tmp / "model.json"
    artifact.write_text(json.dumps({"uri": str(tmp / "model"), "sha256": "t", "lineage": {"git_commit": "abc"}}))
    result = register_model(artifact, {"vrt_bench/A-mIoU": 0.2, "vrt_bench/R-LQ": 0.3}, "vrt-tiny", GateConfig())
    assert (result.model_uri, result.alias) == ("models:/vrt-tiny/1", "champion")
    return model.eval()


def expected(model, max_new_tokens: int) -> dict:
    """What the model server's pre/post-processing makes of the input example."""
    from components.deploy.payload import Limits, decode_image, parse_v1

    [query] = parse_v1({"instances": [input_example()]}, Limits())
    image = decode_image(query)
    [trace] = model.predict([image], [query.question], max_new_tokens=max_new_tokens, do_sample=False)
    result = build_result(trace, image, False, {})
    return {"text": result["text"], "objects": json.dumps(result["objects"])}


def test_pyfunc_load_model_answers_like_the_server(tiny):
    import mlflow
    import pandas as pd

    pyfunc = mlflow.pyfunc.load_model(URI)
    assert [c.name for c in pyfunc.metadata.get_input_schema().inputs] == ["image_b64", "question", "overlay"]
    out = pyfunc.predict(pd.DataFrame([input_example()]), params={"max_new_tokens": 12})
    assert list(out.columns) == ["text", "objects"] and len(out) == 1
    assert out.iloc[0].to_dict() == expected(tiny, 12)
    with pytest.raises(mlflow.exceptions.MlflowException, match=r"instances\[0\]: question is empty"):
        pyfunc.predict(pd.DataFrame([{**input_example(), "question": "   "}]))


def test_mlflow_models_serve_serves_it(tiny, tmp_path):
    port = registry_server.free_port()
    # as in an activated environment: the scoring server's uvicorn is beside this python
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", URI, "--env-manager", "local",
           "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    with open(tmp_path / "serve.log", "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, cwd=tmp_path)
    try:
        try:
            registry_server.wait_http(f"http://127.0.0.1:{port}/ping", timeout=240)
        except TimeoutError as e:
            raise AssertionError((tmp_path / "serve.log").read_text()[-3000:]) from e
        body = json.dumps({"dataframe_records": [input_example()], "params": {"max_new_tokens": 12}}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            answer = json.loads(resp.read())
        assert answer == {"predictions": [expected(tiny, 12)]}
        bad = json.dumps({"dataframe_records": [{"question": "x"}]}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", bad, {"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=60)
        assert err.value.code == 400
    finally:
        proc.terminate()
        proc.wait(timeout=30)
