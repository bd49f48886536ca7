"""vrt.storage under faults: a frozen S3 server gives one clear error within the configured bound,
error handling never raises its own exception, and object keys never write outside the folder."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from vrt import storage
from vrt.errors import UserError


@pytest.fixture
def frozen_s3(monkeypatch):
    """An endpoint that accepts connections and never answers; the S3 client bounded to 1 s x 2 attempts."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.getsockname()[1]}"
    for key, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test-only-key",
        "AWS_SECRET_ACCESS_KEY": "test-only-value",
        "AWS_DEFAULT_REGION": "us-east-1",
        "VRT_S3_CONNECT_TIMEOUT": "1",
        "VRT_S3_READ_TIMEOUT": "1",
        "VRT_S3_MAX_ATTEMPTS": "2",
    }.items():
        monkeypatch.setenv(key, value)
    try:
        yield endpoint
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()


@pytest.mark.parametrize(
    "call",
    [
        lambda: storage.read_bytes("s3://bucket/key.json"),
        lambda: storage.write_bytes("s3://bucket/key.json", b"{}"),
        lambda: storage.list_names("s3://bucket/prefix"),
        lambda: storage.exists("s3://bucket/key.json"),
    ],
    ids=["read", "write", "list", "exists"],
)
def test_frozen_s3_is_one_clear_error_within_the_bound(frozen_s3, call):
    start = time.monotonic()
    with pytest.raises(UserError) as err:
        call()
    elapsed = time.monotonic() - start
    message = str(err.value)
    assert f"S3 at {frozen_s3} did not answer" in message and "2 attempts, connect 1 s, read 1 s" in message
    assert "\n" not in message
    assert 1.0 <= elapsed < 12.0  # 2 attempts x (1 s connect + 1 s read) plus backoff; it hung for minutes


def test_frozen_s3_from_the_cli(frozen_s3, capsys):
    from vrt.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["data", "inspect", "s3://bucket/dataset"])
    err = capsys.readouterr().err
    assert (
        exit_info.value.code,
        err.count("\n"),
        err.startswith(f"error: S3 at {frozen_s3} did not answer"),
    ) == (
        2,
        1,
        True,
    ), err


def test_error_handler_takes_any_botocore_error():
    """A timeout's `response` is None: the handler used to raise AttributeError and hide the cause."""
    from botocore.exceptions import ClientError, NoCredentialsError, ReadTimeoutError

    assert "did not answer for s3://b/k (ReadTimeoutError" in str(
        storage._s3_error(ReadTimeoutError(endpoint_url="http://x"), "s3://b/k")
    )
    assert str(storage._s3_error(NoCredentialsError(), "s3://b/k")) == (
        "S3 error on s3://b/k: Unable to locate credentials"
    )
    odd = ClientError({"ResponseMetadata": {}}, "GetObject")
    assert str(storage._s3_error(odd, "s3://b/k")).startswith(
        "S3 error on s3://b/k: An error occurred (Unknown)"
    )


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("VRT_S3_READ_TIMEOUT", "soon", "VRT_S3_READ_TIMEOUT='soon' is not a number"),
        ("VRT_S3_MAX_ATTEMPTS", "0", "1-20 attempts"),
        ("VRT_S3_CONNECT_TIMEOUT", "-1", "positive timeouts"),
    ],
)
def test_bad_limits_in_the_environment(monkeypatch, env, value, message):
    monkeypatch.setenv(env, value)
    with pytest.raises(UserError, match=message):
        storage.S3Limits.from_env()


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "/etc/evil", "a\\..\\evil", ""])
def test_keys_that_escape_are_refused(name):
    with pytest.raises(UserError, match="absolute or climbs out"):
        storage.safe_relative(name, "s3://b/p")


def test_download_dir_refuses_a_key_that_climbs_out(s3_bucket, tmp_path):
    import boto3

    bucket = s3_bucket.removeprefix("s3://")
    client = boto3.client("s3", endpoint_url=storage.os.environ["AWS_ENDPOINT_URL"])
    client.put_object(Bucket=bucket, Key="model/config.json", Body=b"{}")
    client.put_object(Bucket=bucket, Key="model/../../../escaped.txt", Body=b"x")
    dest = tmp_path / "cache" / "model"
    with pytest.raises(UserError, match=r"refusing object '../../../escaped.txt' under s3://"):
        storage.download_dir(f"{s3_bucket}/model", dest)
    assert not (tmp_path / "escaped.txt").exists() and not any(tmp_path.rglob("escaped.txt"))
