"""Object-store URIs: local paths and `s3://bucket/key` (boto3), behind one small API.

Writes are atomic per object: local files are written to a temporary name and renamed;
an S3 PUT is atomic by itself. Publishing a multi-file result means writing its
manifest last (see vrt.data.manifest). The S3 endpoint comes from `AWS_ENDPOINT_URL`
(any S3-compatible server); credentials from the usual AWS environment/profile.

Every S3 call has explicit bounds (botocore Config): `VRT_S3_CONNECT_TIMEOUT` (s, default 10),
`VRT_S3_READ_TIMEOUT` (s, default 60) and `VRT_S3_MAX_ATTEMPTS` (default 3, the first try included).
A server that does not answer is a one-line UserError after at most about
attempts x (connect + read) seconds. Keys are checked before anything is written locally: a key
that is absolute or climbs out with `..` is refused.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

from vrt.errors import UserError


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def join(uri: str, *parts: str) -> str:
    """Join path parts onto a local path or an s3:// URI."""
    if is_s3(uri):
        return "/".join([uri.rstrip("/"), *[p.strip("/") for p in parts]])
    return str(Path(uri, *parts))


def split_s3(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key)."""
    rest = uri[len("s3://") :]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise UserError(f"{uri!r} names no bucket: write s3://BUCKET/PREFIX")
    return bucket, key


@dataclass(frozen=True)
class S3Limits:
    """Connect/read timeouts (seconds) and attempts per call (the first included) of the S3 client."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 3

    def __post_init__(self) -> None:
        if not (self.connect_timeout > 0 and self.read_timeout > 0 and 1 <= self.max_attempts <= 20):
            raise UserError(
                f"S3 limits must be positive timeouts and 1-20 attempts, got {self}: fix VRT_S3_CONNECT_TIMEOUT, "
                "VRT_S3_READ_TIMEOUT or VRT_S3_MAX_ATTEMPTS"
            )

    @classmethod
    def from_env(cls) -> S3Limits:
        names = {
            "connect_timeout": "VRT_S3_CONNECT_TIMEOUT",
            "read_timeout": "VRT_S3_READ_TIMEOUT",
            "max_attempts": "VRT_S3_MAX_ATTEMPTS",
        }
        values = {}
        for field_name, env in names.items():
            text = os.environ.get(env, "").strip()
            if not text:
                continue
            try:
                values[field_name] = int(text) if field_name == "max_attempts" else float(text)
            except ValueError as e:
                raise UserError(f"{env}={text!r} is not a number: set it to e.g. 10") from e
        return cls(**values)


@lru_cache(maxsize=4)
def _client(endpoint: str | None, limits: S3Limits):
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=limits.connect_timeout,
        read_timeout=limits.read_timeout,
        retries={"max_attempts": limits.max_attempts, "mode": "standard"},
    )
    return boto3.client("s3", endpoint_url=endpoint, config=config)


def s3_client():
    """A boto3 S3 client for `AWS_ENDPOINT_URL` (or AWS itself when unset), with the S3Limits of the env."""
    return _client(os.environ.get("AWS_ENDPOINT_URL") or None, S3Limits.from_env())


def _s3_error(e: Exception, uri: str) -> UserError:
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

    if isinstance(e, (ReadTimeoutError, ConnectTimeoutError, EndpointConnectionError, BotoConnectionError)):
        limits = S3Limits.from_env()
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or "AWS S3"
        return UserError(
            f"S3 at {endpoint} did not answer for {uri} ({type(e).__name__}; {limits.max_attempts} attempts, "
            f"connect {limits.connect_timeout:g} s, read {limits.read_timeout:g} s): check AWS_ENDPOINT_URL "
            "and the network, or raise VRT_S3_READ_TIMEOUT"
        )
    response = getattr(e, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    code = str(error.get("Code", "")) if isinstance(error, dict) else ""
    if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return UserError(
            f"S3 access denied for {uri}: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and the bucket policy"
        )
    if code in ("NoSuchKey", "404", "NotFound"):
        return UserError(f"{uri} does not exist: check the URI (list it with `aws s3 ls`)")
    if code == "NoSuchBucket":
        return UserError(f"bucket of {uri} does not exist: create it or fix the URI")
    return UserError(f"S3 error on {uri}: {' '.join(str(e).split())}")


def _s3_call(uri: str, call, *args, **kwargs):
    """`call(*args, **kwargs)` with every botocore failure turned into a one-line UserError about `uri`."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return call(*args, **kwargs)
    except (ClientError, BotoCoreError) as e:
        raise _s3_error(e, uri) from e


def safe_relative(name: str, where: str) -> str:
    """`name` when it is a plain relative path; a UserError when it is absolute or climbs out with `..`."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or "\x00" in name:
        raise UserError(f"refusing object {name!r} under {where}: its key is absolute or climbs out with ..")
    return name


def exists(uri: str) -> bool:
    if not is_s3(uri):
        return Path(uri).exists()
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3(uri)
    try:
        s3_client().head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise _s3_error(e, uri) from e
    except BotoCoreError as e:
        raise _s3_error(e, uri) from e


def read_bytes(uri: str) -> bytes:
    """The whole object; a missing object or denied access is a UserError naming it."""
    if not is_s3(uri):
        path = Path(uri)
        if not path.is_file():
            raise UserError(f"{uri} does not exist or is not a file: check the path")
        return path.read_bytes()
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3(uri)
    try:
        return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as e:
        raise _s3_error(e, uri) from e


def write_bytes(uri: str, data: bytes) -> None:
    """Write atomically: a reader sees the old object or the whole new one."""
    if is_s3(uri):
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = split_s3(uri)
        try:
            s3_client().put_object(Bucket=bucket, Key=key, Body=data)
        except (ClientError, BotoCoreError) as e:
            raise _s3_error(e, uri) from e
        return
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def list_names(uri: str) -> list[str]:
    """Names (relative to `uri`, recursively, '/'-separated) of the objects under a prefix, sorted."""
    if not is_s3(uri):
        root = Path(uri)
        if not root.is_dir():
            return []
        return sorted(str(p.relative_to(root)).replace(os.sep, "/") for p in root.rglob("*") if p.is_file())
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3(uri)
    prefix = key.rstrip("/") + "/" if key else ""
    names = []
    try:
        for page in s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            names += [o["Key"][len(prefix) :] for o in page.get("Contents", [])]
    except (ClientError, BotoCoreError) as e:
        raise _s3_error(e, uri) from e
    return sorted(names)


def delete(uri: str) -> None:
    """Remove an object (missing is fine)."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        _s3_call(uri, s3_client().delete_object, Bucket=bucket, Key=key)
    else:
        Path(uri).unlink(missing_ok=True)


def upload_dir(local_dir: str | Path, uri: str) -> None:
    """Copy a local directory's files under `uri` (a local destination is copied, not moved)."""
    local_dir = Path(local_dir)
    for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
        rel = str(path.relative_to(local_dir)).replace(os.sep, "/")
        if is_s3(uri):
            bucket, key = split_s3(join(uri, rel))
            _s3_call(join(uri, rel), s3_client().upload_file, str(path), bucket, key)
        else:
            dest = Path(uri, rel)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)


def download_dir(uri: str, local_dir: str | Path) -> Path:
    """Copy every object under `uri` into `local_dir`; returns it. A local `uri` is returned as is."""
    if not is_s3(uri):
        if not Path(uri).exists():
            raise UserError(f"{uri} does not exist: check the path")
        return Path(uri)
    names = list_names(uri)
    if not names:
        raise UserError(f"nothing under {uri}: check the URI")
    local_dir = Path(local_dir)
    names = [
        safe_relative(name, uri) for name in names if not name.endswith("/")
    ]  # "dir/" markers hold nothing
    for name in names:
        bucket, key = split_s3(join(uri, name))
        dest = local_dir / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        _s3_call(join(uri, name), s3_client().download_file, bucket, key, str(dest))
    return local_dir
