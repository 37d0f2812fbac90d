"""Download a published dataset as anyone can, to verify it (`kcdata verify URL`).

Anonymous: CKAN's public `package_show`, then the manifest, its signature, the public key and
every file the manifest lists, each saved under the manifest's file name. A file the portal no
longer lists is simply not downloaded, and verifying then reports it missing.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from common.errors import KcdataError
from portal.manifest import MANIFEST, PUBLIC_KEY, SIGNATURE, Manifest

if TYPE_CHECKING:
    import requests

TIMEOUT_S = 120


@dataclass(frozen=True)
class DatasetRef:
    base: str  # the portal's address
    dataset: str  # name or id


def parse_ref(ref: str, default_base: str | None = None) -> DatasetRef:
    """`http://host/dataset/<name>`, `http://host/api/3/action/package_show?id=<name>`, or a bare
    name or id on `default_base`."""
    if "://" not in ref:
        if not default_base:
            raise KcdataError(f"{ref!r} is no URL, and no portal is configured to look it up on")
        return DatasetRef(default_base.rstrip("/"), ref.strip("/"))
    parts = urlsplit(ref)
    path = parts.path.rstrip("/")
    root = f"{parts.scheme}://{parts.netloc}"
    if "/api/3/action/package_show" in path:
        ids = parse_qs(parts.query).get("id")
        if not ids:
            raise KcdataError(f"{ref}: package_show needs ?id=<dataset>")
        return DatasetRef(root + path.split("/api/3/action/")[0], ids[0])
    if "/dataset/" in path:
        prefix, _, rest = path.partition("/dataset/")
        name = rest.split("/")[0]
        if name:
            return DatasetRef(root + prefix, name.removesuffix(".jsonld").removesuffix(".ttl"))
    raise KcdataError(f"{ref}: not a dataset page (…/dataset/<name>) or a package_show URL")


def fetch_dataset(ref: DatasetRef, folder: Path) -> Path:
    """Download the signed manifest and the files it lists into `folder`; returns `folder`."""
    import requests

    session = requests.Session()
    session.headers["User-Agent"] = "kcdata-verify/0.1"
    try:
        answer = session.get(f"{ref.base}/api/3/action/package_show", params={"id": ref.dataset}, timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        raise KcdataError(f"portal {ref.base} not reachable ({type(exc).__name__})") from None
    if answer.status_code in (403, 404):
        raise KcdataError(f"dataset {ref.dataset} is not published on {ref.base}")
    if not answer.ok:
        raise KcdataError(f"portal {ref.base} answered {answer.status_code} for dataset {ref.dataset}")
    urls = {r["name"]: r.get("url") for r in answer.json()["result"].get("resources", [])}
    missing = [n for n in (MANIFEST, SIGNATURE, PUBLIC_KEY) if not urls.get(n)]
    if missing:
        raise KcdataError(f"dataset {ref.dataset} on {ref.base} has no {', '.join(missing)}: it was published without a manifest")
    folder.mkdir(parents=True, exist_ok=True)
    for name in (MANIFEST, SIGNATURE, PUBLIC_KEY):
        _download(session, urls[name], folder / name)
    try:
        manifest = Manifest.from_bytes((folder / MANIFEST).read_bytes())
    except KcdataError:
        return folder  # verifying says what is wrong with it
    for entry in manifest.files:
        if urls.get(entry.name) and _plain_name(entry.file):
            _download(session, urls[entry.name], folder / entry.file)
    return folder


def _plain_name(name: str) -> bool:
    """A file name only (the manifest is not trusted before it is verified): no path, no dots."""
    return Path(name).name == name and name not in (".", "..", MANIFEST, SIGNATURE, PUBLIC_KEY) and "\\" not in name


def _download(session: requests.Session, url: str, target: Path) -> None:
    import requests

    try:
        with session.get(url, stream=True, timeout=TIMEOUT_S) as answer:
            if not answer.ok:
                raise KcdataError(f"{url}: answered {answer.status_code}")
            with target.open("wb") as fh:
                for block in answer.iter_content(1 << 20):
                    fh.write(block)
    except requests.RequestException as exc:
        raise KcdataError(f"{url}: download failed ({type(exc).__name__})") from None
