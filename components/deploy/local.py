"""Local deploy: the model server as a subprocess on loopback, waited for, smoke-tested.

from components.deploy.local import start_local
server = start_local("models:/vrt-tiny@champion", port=8080)   # LocalServer(url, process)
server.stop()
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from components.deploy.smoke import smoke_test, wait_ready
from vrt.errors import UserError


@dataclass
class LocalServer:
    """A running local model server: its base URL, model name, process and log file."""

    url: str
    name: str
    process: subprocess.Popen
    log_path: Path

    def stop(self, timeout: float = 30.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_local(
    model_uri: str,
    port: int,
    name: str = "vrt",
    host: str = "127.0.0.1",
    timeout: float = 300.0,
    extra_args: tuple[str, ...] = (),
    smoke: bool = True,
    detach: bool = False,
) -> LocalServer:
    """Start `python -m components.deploy.server` for `model_uri`, wait for ready, smoke-test it.

    `detach` puts the server in its own session so that it outlives this process (a pipeline step).
    """
    log_path = Path(tempfile.mkstemp(prefix="vrt-serve-", suffix=".log")[1])
    cmd = [
        sys.executable,
        "-m",
        "components.deploy.server",
        "--model_uri",
        model_uri,
        "--model_name",
        name,
        "--host",
        host,
        "--http_port",
        str(port),
        *extra_args,
    ]
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ), start_new_session=detach
        )
    server = LocalServer(f"http://{host}:{port}", name, process, log_path)
    try:
        wait_ready(server.url, name, timeout, alive=lambda: process.poll() is None)
        if smoke:
            smoke_test(server.url, name)
    except RuntimeError as e:
        server.stop()
        tail = log_path.read_text(errors="replace")[-2000:]
        raise UserError(
            f"local model server for {model_uri} failed: {e}\n--- server log ({log_path}) ---\n{tail}"
        ) from e
    return server
