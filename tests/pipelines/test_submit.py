"""Contract test of `vrt pipeline submit`: the real kfp.Client talks HTTP to a loopback server that
implements the KFP v2beta1 endpoints it calls; the test asserts the exact requests received."""

# No `from __future__ import annotations`: kfp reads the component annotations as types.

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import typer
import yaml
from typer.testing import CliRunner

from vrt.cli.pipeline_submit import register
from vrt.errors import UserError
from vrt.k8s.secrets import find_embedded_secrets

API = "/apis/v2beta1"
TOKEN = "test-token-0123456789"


class FakeKfp:
    """State of the loopback KFP API server: experiments, runs (with scripted states), requests seen."""

    def __init__(self, states: list[tuple[str, dict[str, str]]]):
        self.requests: list[dict] = []
        self.experiments: list[dict] = []
        self.states = states
        self.polls = 0

    def handle(self, method: str, url: str, headers, body: dict | None) -> tuple[int, dict]:
        parsed = urlparse(url)
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        self.requests.append({"method": method, "path": parsed.path, "query": query, "body": body,
                              "authorization": headers.get("Authorization")})
        route = (method, parsed.path)
        if route == ("GET", f"{API}/healthz"):
            return 200, {"multi_user": False}
        if route == ("GET", f"{API}/experiments"):
            wanted = json.loads(query["filter"])["predicates"][0]["stringValue"]
            found = [e for e in self.experiments if e["display_name"] == wanted]
            return 200, {"experiments": found, "total_size": len(found)} if found else {}
        if route == ("POST", f"{API}/experiments"):
            exp = {**body, "experiment_id": f"exp-{len(self.experiments) + 1}"}
            self.experiments.append(exp)
            return 200, exp
        if route == ("POST", f"{API}/runs"):
            return 200, {**body, "run_id": "run-1", "state": "PENDING"}
        if route == ("GET", f"{API}/runs/run-1"):
            state, tasks = self.states[min(self.polls, len(self.states) - 1)]
            self.polls += 1
            details = [{"display_name": n, "state": s} for n, s in tasks.items()]
            return 200, {"run_id": "run-1", "state": state, "run_details": {"task_details": details}}
        if route == ("POST", f"{API}/recurringruns"):
            return 200, {**body, "recurring_run_id": "rr-1", "status": "ENABLED"}
        return 404, {"error": f"no route {method} {parsed.path}", "code": 5}


def _handler(state: FakeKfp):
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            try:
                status, payload = state.handle(method, self.path, self.headers, body)
            except (KeyError, ValueError, TypeError) as e:  # surfaced to the client (and the test) as a 500
                status, payload = 500, {"error": f"{type(e).__name__}: {e}", "code": 13}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._reply("GET")

        def do_POST(self):
            self._reply("POST")

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture()
def kfp_server(request):
    """(base URL, FakeKfp) of a loopback KFP API server; states via indirect parametrization."""
    states = getattr(request, "param", [("PENDING", {}), ("RUNNING", {"train": "RUNNING"}),
                                         ("SUCCEEDED", {"train": "SUCCEEDED"})])
    fake = FakeKfp(states)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", fake
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    """A small compiled KFP pipeline with three parameters."""
    from kfp import compiler, dsl

    @dsl.component(base_image="vrt-base:0.1.0")
    def train(n_train: int, lr: float, work_uri: str) -> str:
        return f"{work_uri}/{n_train}/{lr}"

    @dsl.pipeline(name="submit-contract")
    def pipe(n_train: int = 4, lr: float = 0.1, work_uri: str = "s3://vrt/work"):
        train(n_train=n_train, lr=lr, work_uri=work_uri)

    out = tmp_path_factory.mktemp("pkg") / "pipe.yaml"
    compiler.Compiler().compile(pipe, str(out))
    return out


@pytest.fixture()
def cli(tmp_path, monkeypatch):
    """Invoke `submit` with a clean HOME (no kfp context) and no kubeconfig."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("KFP_TOKEN", raising=False)
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    return lambda *args: CliRunner().invoke(app, ["submit", *args])


def test_submit_creates_experiment_and_run_then_follows_it(kfp_server, package, cli):
    url, fake = kfp_server
    res = cli("--host", url, "--experiment", "vrt-ci", "--namespace", "team-a", "--package", str(package),
              "--param", "n_train=32", "--param", "lr=0.001", "--run-name", "nightly", "--token", TOKEN,
              "--wait", "--poll-seconds", "0.01")
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert res.stdout == f"{url}/#/runs/details/run-1\n"
    assert [(r["method"], r["path"]) for r in fake.requests] == [
        ("GET", f"{API}/experiments"), ("POST", f"{API}/experiments"), ("POST", f"{API}/runs"),
        ("GET", f"{API}/runs/run-1"), ("GET", f"{API}/runs/run-1"), ("GET", f"{API}/runs/run-1"),
    ]
    assert {r["authorization"] for r in fake.requests} == {f"Bearer {TOKEN}"}
    lookup = fake.requests[0]["query"]
    assert lookup["namespace"] == "team-a"
    assert json.loads(lookup["filter"]) == {"predicates": [{"operation": 1, "key": "display_name", "stringValue": "vrt-ci"}]}
    assert fake.requests[1]["body"] == {"display_name": "vrt-ci", "namespace": "team-a"}
    run = fake.requests[2]["body"]
    assert run["experiment_id"] == "exp-1" and run["display_name"] == "nightly"
    assert run["service_account"] == "vrt-pipeline-runner"
    assert run["runtime_config"] == {"parameters": {"n_train": 32, "lr": 0.001}}
    assert run["pipeline_spec"] == yaml.safe_load(package.read_text())
    states = [line.strip() for line in res.stderr.splitlines() if line.startswith(("run run-1", "  "))]
    assert states == ["run run-1: PENDING", "run run-1: RUNNING", "train: RUNNING", "run run-1: SUCCEEDED", "train: SUCCEEDED"]


def test_existing_experiment_is_reused_and_no_wait_means_no_polling(kfp_server, package, cli):
    url, fake = kfp_server
    fake.experiments.append({"display_name": "vrt", "experiment_id": "exp-9"})
    res = cli("--host", url, "--package", str(package), "--token", TOKEN)
    assert res.exit_code == 0, res.output
    # Without --namespace kfp.Client asks /healthz whether KFP runs in multi-user mode.
    assert [(r["method"], r["path"]) for r in fake.requests] == [
        ("GET", f"{API}/healthz"), ("GET", f"{API}/experiments"), ("POST", f"{API}/runs"),
    ]
    assert "namespace" not in fake.requests[1]["query"]
    assert fake.requests[2]["body"]["experiment_id"] == "exp-9"
    assert fake.requests[2]["body"]["display_name"] == "vrt-train-tiny"


@pytest.mark.parametrize("kfp_server", [[("RUNNING", {"sft": "RUNNING"}), ("FAILED", {"sft": "FAILED"})]], indirect=True)
def test_failed_run_exits_1(kfp_server, package, cli):
    url, _ = kfp_server
    res = cli("--host", url, "--package", str(package), "--token", TOKEN, "--wait", "--poll-seconds", "0.01")
    assert res.exit_code == 1
    assert "sft: FAILED" in res.stderr and "run run-1 ended FAILED" in res.stderr


def test_recurring_run_with_cron(kfp_server, package, cli):
    url, fake = kfp_server
    res = cli("--host", url, "--package", str(package), "--token", TOKEN, "--recurring", "0 0 3 * * *")
    assert res.exit_code == 0, res.output
    assert res.stdout == f"{url}/#/recurringrun/details/rr-1\n"
    body = fake.requests[-1]["body"]
    assert fake.requests[-1]["path"] == f"{API}/recurringruns"
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}
    assert (body["mode"], body["max_concurrency"], body["no_catchup"]) == ("ENABLE", 1, True)
    assert body["pipeline_spec"]["pipelineInfo"] == {"name": "submit-contract"}


def test_kubeconfig_credentials_are_used_without_a_token(kfp_server, package, cli, tmp_path, monkeypatch):
    url, fake = kfp_server
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "kubeconfig-token-abcdef"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
    }))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    res = cli("--host", url, "--package", str(package))
    assert res.exit_code == 0, res.output
    assert {r["authorization"] for r in fake.requests} == {"Bearer kubeconfig-token-abcdef"}


def test_submit_compiles_the_preset_with_the_leads_compiler(kfp_server, cli):
    url, fake = kfp_server
    res = cli("--host", url, "--preset", "tiny", "--token", TOKEN, "--param", "n_train=8")
    assert res.exit_code == 0, res.output + repr(res.exception)
    run = fake.requests[-1]["body"]
    assert run["pipeline_spec"]["pipelineInfo"]["name"] == "vrt-train-tiny"
    assert run["runtime_config"]["parameters"] == {"n_train": 8}
    assert find_embedded_secrets([run["pipeline_spec"], run["runtime_config"]]) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "epochs=3"], "unknown pipeline parameter(s) epochs; the pipeline takes: lr, n_train, work_uri"),
        (["--param", "n_train"], "--param 'n_train' is not name=value"),
        (["--recurring", "0 3 * * *"], "has 5 fields; KFP cron has 6 with seconds first: use '0 0 3 * * *'"),
        (["--recurring", "0 0 3 * * *", "--wait"], "--wait follows one run"),
    ],
)
def test_bad_input_is_a_user_error_before_any_run_is_created(kfp_server, package, cli, args, message):
    url, fake = kfp_server
    res = cli("--host", url, "--package", str(package), "--token", TOKEN, *args)
    assert isinstance(res.exception, UserError)
    assert message in str(res.exception)
    assert not [r for r in fake.requests if r["method"] == "POST"]


def test_host_must_be_a_url(package, cli):
    res = cli("--host", "kfp.local", "--package", str(package), "--token", TOKEN)
    assert isinstance(res.exception, UserError)
    assert "--host 'kfp.local' must be a URL" in str(res.exception)
