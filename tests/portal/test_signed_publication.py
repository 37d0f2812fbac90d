"""On the real local CKAN: every published version carries its signed manifest, anyone can
verify a dataset by its URL (`kcdata verify`) or with OpenSSL, a changed byte is named, publishing
the same version again writes nothing, and the leak gate keeps a mislabelled resource off CKAN."""
from __future__ import annotations

import shutil
import subprocess

import duckdb
import pytest
import requests
from ckanapi import RemoteCKAN
from ckanapi.errors import NotAuthorized, NotFound
from published_set import ALL, CONDITIONAL, OPEN, PERSONAL, SIGNED  # tests/portal/published_set.py
from typer.testing import CliRunner

from catalog.entries import get_resource
from catalog.model import Sensitivity
from catalog.store import open_store
from common.keys import public_key_fingerprint, signing_key
from portal.client import Portal
from portal.fetch import fetch_dataset, parse_ref
from portal.manifest import MANIFEST, PUBLIC_KEY, SIGNATURE, Manifest
from portal.mapping import dataset_name
from portal.publisher import publish_all, publish_resource

READS = {"package_show", "organization_show", "resource_view_list"}


def _anon(target) -> RemoteCKAN:
    return RemoteCKAN(target.url)


def _fingerprint() -> str:
    return public_key_fingerprint(signing_key().public_key())


@pytest.mark.parametrize("code", [OPEN, PERSONAL, CONDITIONAL])
def test_every_published_version_has_its_signed_manifest(published, code):
    target, _ = published
    dataset = _anon(target).action.package_show(id=dataset_name(get_resource(code)))
    resources = {r["name"]: r for r in dataset["resources"]}
    assert [r["name"] for r in dataset["resources"]][-3:] == SIGNED
    manifest = Manifest.from_bytes(requests.get(resources[MANIFEST]["url"], timeout=60).content)
    assert (manifest.resource_code, manifest.dataset, str(manifest.catalog_version)) == (
        code, dataset["name"], dataset["catalog_version"])
    assert manifest.signing_key == _fingerprint() and manifest.algorithm == "Ed25519"
    assert {f.name for f in manifest.files} == set(resources) - set(SIGNED)
    for entry in manifest.files:
        assert resources[entry.name]["hash"] == entry.sha256
        assert resources[entry.name]["url"].endswith("/" + entry.file)
        assert (entry.rows is None) == (entry.name == "data-dictionary.csv")
    assert f"`{_fingerprint()}`" in dataset["notes"] and f"kcdata verify {target.url}/dataset/{dataset['name']}" in dataset["notes"]


def test_kcdata_verify_passes_on_the_dataset_url_and_names_a_changed_byte(published, tmp_path):
    from kcdata.cli import app

    target, _ = published
    url = f"{target.url}/dataset/{dataset_name(get_resource(OPEN))}"
    runner = CliRunner()
    ok = runner.invoke(app, ["verify", url, "--key-fingerprint", _fingerprint()])
    assert ok.exit_code == 0, ok.output
    assert "verified: KC-WSJK-001 version" in ok.output and "is intact (3 file(s)" in ok.output
    folder = fetch_dataset(parse_ref(url), tmp_path / "download")
    command = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", PUBLIC_KEY, "-rawin", "-in", MANIFEST, "-sigfile", SIGNATURE]
    assert shutil.which("openssl") and subprocess.run(command, cwd=folder, capture_output=True).returncode == 0
    manifest = Manifest.from_bytes((folder / MANIFEST).read_bytes())
    csv = folder / manifest.entry("data.csv").file
    data = bytearray(csv.read_bytes())
    data[len(data) // 2] ^= 0x01
    csv.write_bytes(bytes(data))
    bad = runner.invoke(app, ["verify", str(folder)])
    assert bad.exit_code == 1
    assert f"data.csv: SHA-256 differs (expected {manifest.entry('data.csv').sha256[:12]}…" in bad.output
    assert "NOT verified: KC-WSJK-001" in bad.output


class _Recording(Portal):
    """Our client, noting every action it calls."""

    def __init__(self, target) -> None:
        super().__init__(target)
        self.actions: list[str] = []

    def call(self, action, **data):
        self.actions.append(action)
        return super().call(action, **data)


def test_publishing_the_same_version_again_makes_no_write_call(published):
    target, _ = published
    portal = _Recording(target)
    results = publish_all(portal, codes=ALL)
    assert {r.code: r.action for r in results if r.code in (OPEN, PERSONAL, CONDITIONAL)} == dict.fromkeys(
        (OPEN, PERSONAL, CONDITIONAL), "unchanged")
    assert [a for a in portal.actions if a not in READS] == []


def _mislabelled(resource, code: str):
    """The entry with one personal item declared public by mistake (so kept as it is)."""
    items = [i.model_copy(update={"sensitivity": Sensitivity.public, "treatment": None}) if i.code == code else i
             for i in resource.items]
    return resource.model_copy(update={"items": items})


def test_a_resource_with_a_wrong_sensitivity_is_blocked_and_never_reaches_ckan(published, tmp_path):
    from common.settings import Paths
    from governance.open_view import build_open_view

    target, paths = published
    resource = get_resource(PERSONAL)
    name = dataset_name(resource)
    admin = Portal(target)
    admin.call("dataset_purge", id=name)  # as if this resource had never been published
    wrong = _mislabelled(resource, "contact_phone")
    lake = Paths(lake=tmp_path / "lake")  # its open view as the mislabelled entry makes it, from the same rows
    lake.current_file(resource.table).parent.mkdir(parents=True)
    shutil.copy(paths.current_file(resource.table), lake.current_file(resource.table))
    store = open_store(paths.catalog_url)
    latest = store.latest_version(PERSONAL)
    view = build_open_view(wrong, latest.fingerprint, latest.rules, lake)
    assert "contact_phone" in view.columns
    # a reviewer approved the mislabelled terms (an approval covers only the terms it was given for)
    store.record_approval(wrong, "approve", "测试审核员", note="test: mislabelled entry approved by mistake")
    try:
        result = publish_resource(wrong, Portal(target), lake, store)
        assert result.action == "blocked"
        leak = f"{PERSONAL}: leak gate: open view column contact_phone: mobile in "
        assert any(r.startswith(leak) for r in result.reasons), result.reasons
        assert any("data.csv column 联系电话 (contact_phone): mobile" in r for r in result.reasons), result.reasons
        phones = duckdb.sql(f"SELECT contact_phone FROM read_parquet('{view.path}') WHERE contact_phone IS NOT NULL").fetchall()
        assert phones and not any(p in " ".join(result.reasons) for (p,) in phones)  # counts, never values
        anon = _anon(target)
        with pytest.raises((NotFound, NotAuthorized)):
            anon.action.package_show(id=name)
        assert anon.action.package_search(q=f'resource_code:"{PERSONAL}"', include_private=True)["count"] == 0
    finally:  # the entry as it is publishes again (its phones masked), for the tests after this one
        store.record_approval(resource, "approve", "测试审核员", note="test: the entry as it is")
        assert publish_resource(resource, Portal(target)).action == "published"
