"""Object-store URIs: local paths and `s3://bucket/key` (boto3), behind one small API.

Writes are atomic per object: local files are written to a temporary name and renamed;
an S3 PUT is atomic by itself. Publishing a multi-file result means writing its
manifest last (see vrt.data.manifest). The S3 endpoint comes from `AWS_ENDPOINT_URL`
(any S3-compatible server); credentials from the usual AWS environment/profile.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

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


@lru_cache(maxsize=4)
def _client(endpoint: str | None):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint)


def s3_client():
    """A boto3 S3 client for `AWS_ENDPOINT_URL` (or AWS itself when unset)."""
    return _client(os.environ.get("AWS_ENDPOINT_URL") or None)


def _s3_error(e: Exception, uri: str) -> UserError:
    code = getattr(e, "response", {}).get("Error", {}).get("Code", "")
    if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return UserError(f"S3 access denied for {uri}: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and the bucket policy")
    if code in ("NoSuchKey", "404", "NotFound"):
        return UserError(f"{uri} does not exist: check the URI (list it with `aws s3 ls`)")
    if code == "NoSuchBucket":
        return UserError(f"bucket of {uri} does not exist: create it or fix the URI")
    return UserError(f"S3 error on {uri}: {e}")


def exists(uri: str) -> bool:
    if not is_s3(uri):
        return Path(uri).exists()
    from botocore.exceptions import ClientError

    bucket, key = split_s3(uri)
    try:
        s3_client().head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
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
        s3_client().delete_object(Bucket=bucket, Key=key)
    else:
        Path(uri).unlink(missing_ok=True)


def upload_dir(local_dir: str | Path, uri: str) -> None:
    """Copy a local directory's files under `uri` (a local destination is copied, not moved)."""
    local_dir = Path(local_dir)
    for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
        rel = str(path.relative_to(local_dir)).replace(os.sep, "/")
        if is_s3(uri):
            bucket, key = split_s3(join(uri, rel))
            s3_client().upload_file(str(path), bucket, key)
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
    for name in names:
        bucket, key = split_s3(join(uri, name))
        dest = local_dir / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        s3_client().download_file(bucket, key, str(dest))
    return local_dir
