"""Solr 9 for CKAN's search index: built by Maven from `stack/solr/`, run on 127.0.0.1:8983.

CKAN cannot create or show datasets without Solr. The Maven project pulls solr-core and
solr-test-framework from Maven Central; `JettySolrRunner` serves the real Solr over HTTP from a
solr home under `<home>/solr` with one core, `ckan`, whose schema.xml is the one shipped in the
installed CKAN package (copied at every `up`, so it always matches the CKAN we run).
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from stack.layout import SOLR_CONF, SOLR_CORE, SOLR_PORT, SOLR_PROJECT, Layout, solr_url
from stack.proc import PortalError, http_json, run, wait_until
from stack.supervisor import Program

JVM_OPTS = ("-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-Djava.awt.headless=true")
MAIN_CLASS = "kcdata.portal.SolrMain"
_BUILD_INPUTS = ("pom.xml", "src/main/java/kcdata/portal/SolrMain.java", "src/main/resources/log4j2.xml")
_STAMP = SOLR_PROJECT / "target" / ".kcdata-build"


def _build_digest() -> str:
    h = hashlib.sha256()
    for rel in _BUILD_INPUTS:
        h.update(rel.encode())
        h.update((SOLR_PROJECT / rel).read_bytes())
    return h.hexdigest()


def built() -> bool:
    dependency = SOLR_PROJECT / "target" / "dependency"
    return (
        _STAMP.exists() and _STAMP.read_text().strip() == _build_digest()
        and (SOLR_PROJECT / "target" / "classes" / "kcdata" / "portal" / "SolrMain.class").exists()
        and dependency.is_dir() and any(dependency.glob("solr-core-*.jar"))
    )


def build(layout: Layout) -> bool:
    """`mvn package dependency:copy-dependencies` unless the build is current. True when built now."""
    if built():
        return False
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise PortalError("Maven and a JDK are needed to build Solr (apt-get install -y maven openjdk-17-jdk-headless)")
    dependency = SOLR_PROJECT / "target" / "dependency"
    if dependency.exists():
        shutil.rmtree(dependency)  # no stale jars from an older pinned version
    run(["mvn", "-q", "-B", "package", "dependency:copy-dependencies"],
        what="mvn package (Solr)", log=layout.log("maven"), cwd=SOLR_PROJECT)
    _STAMP.write_text(_build_digest() + "\n")
    return True


def _sync(src: Path | bytes, dest: Path) -> bool:
    """Copy when the content differs. True when the file changed."""
    data = src if isinstance(src, bytes) else src.read_bytes()
    if dest.exists() and dest.read_bytes() == data:
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    return True


def prepare_home(layout: Layout, ckan_schema: Path) -> bool:
    """solr.xml + core `ckan` (CKAN's schema.xml, our solrconfig.xml). True when anything changed."""
    if not ckan_schema.exists():
        raise PortalError(f"CKAN's Solr schema not found at {ckan_schema}")
    home = layout.solr_home
    conf = home / SOLR_CORE / "conf"
    changed = _sync(SOLR_CONF / "solr.xml", home / "solr.xml")
    changed |= _sync(f"name={SOLR_CORE}\n".encode(), home / SOLR_CORE / "core.properties")
    changed |= _sync(SOLR_CONF / "solrconfig.xml", conf / "solrconfig.xml")
    changed |= _sync(ckan_schema, conf / "schema.xml")
    # word lists CKAN's schema.xml names; empty is what CKAN's own Solr image ships
    for name in ("protwords.txt", "synonyms.txt", "stopwords.txt"):
        if not (conf / name).exists():
            changed |= _sync(b"", conf / name)
    return changed


def ping() -> bool:
    status, body = http_json(f"{solr_url()}/{SOLR_CORE}/admin/ping?wt=json", timeout=3)
    return status == 200 and isinstance(body, dict) and body.get("status") == "OK"


def version() -> str | None:
    status, body = http_json(f"{solr_url()}/admin/info/system?wt=json", timeout=5)
    if status != 200 or not isinstance(body, dict):
        return None
    return body.get("lucene", {}).get("solr-spec-version")


def reload_core() -> None:
    status, body = http_json(f"{solr_url()}/admin/cores?action=RELOAD&core={SOLR_CORE}&wt=json", timeout=60)
    if status != 200:
        raise PortalError(f"Solr core reload failed ({status}): {body}")


def program(layout: Layout) -> Program:
    """The Maven-built Solr runner (JettySolrRunner) serving our one core."""
    classpath = f"{SOLR_PROJECT / 'target' / 'classes'}:{SOLR_PROJECT / 'target' / 'dependency'}/*"
    return Program(
        name="solr",
        command=("java", *JVM_OPTS, f"-Dsolr.log.dir={layout.logs}", "-cp", classpath, MAIN_CLASS,
                 str(layout.solr_home), str(SOLR_PORT)),
        directory=layout.solr_home, startsecs=2, port=SOLR_PORT,
    )


def wait_ready(layout: Layout) -> None:
    wait_until(ping, what="Solr", timeout=120, log=layout.log("solr"))


def health(layout: Layout) -> tuple[bool, str | None, str]:
    up = ping()
    return up, version() if up else None, f"core {SOLR_CORE}, home {layout.solr_home}"
