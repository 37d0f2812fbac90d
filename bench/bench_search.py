"""Benchmark: faceted search of the catalog web over a catalog of N resources (default 1,000).

Writes N valid catalog entries (the sample entries, varied) to a temporary catalog folder
(KCDATA_CATALOG_DIR) and a temporary SQLite store with versions, publications and freshness
records for them, then prints the median and p95 of faceted searches:

- in process: `web.search.search()` over the snapshot's index (the pure function);
- over HTTP: `GET /search?...` answered by a real `python -m web` (uvicorn), page rendered.

    .venv/bin/python bench/bench_search.py [--resources 1000] [--queries 300]
"""
from __future__ import annotations

import copy
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

import typer
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

app = typer.Typer(add_completion=False)

WORDS = ["空气", "监测", "企业", "quality", "Traffic", "专利", "告警", "信息", "人才", "站", "数据", "registr"]
FACETS = {
    "open_type": ["无条件开放", "有条件开放", "不予开放"],
    "share_type": ["无条件共享", "有条件共享"],
    "grade": ["一般", "重要"],
    "quality": ["passed", "failed", "no_data"],
    "freshness": ["on_time", "overdue", "never"],
    "publication": ["published", "unpublished", "retracted"],
    "update_cycle": ["实时", "每日", "每月"],
}


def write_catalog(target: Path, count: int) -> None:
    """`count` entries made from the repository's sample entries: new codes, tables and names."""
    source = ROOT / "catalog" / "resources"
    target.mkdir(parents=True)
    for name in ("departments.yaml", "bureau.yaml"):
        (target / name).write_text((source / name).read_text(encoding="utf-8"), encoding="utf-8")
    templates = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(source.glob("*/*.yaml"))]
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for i in range(count):
        entry = copy.deepcopy(templates[i % len(templates)])
        entry["code"] = f"KC-B{letters[i // 999 % 26]}{letters[i // 999 // 26 % 26]}-{i % 999 + 1:03d}"
        entry["table"] = f"{entry['table']}_{i:05d}"
        entry["name"] = f"{entry['name']}（{i}号）"
        entry["name_en"] = f"{entry['name_en']} no. {i}"
        entry["related"] = []
        for item in entry["items"]:
            item.pop("references", None)
        folder = target / entry["provider"]
        folder.mkdir(exist_ok=True)
        (folder / f"{entry['table']}.yaml").write_text(yaml.safe_dump(entry, allow_unicode=True, sort_keys=False), encoding="utf-8")


def fill_store(url: str, rng: random.Random) -> None:
    """Versions for ~70% of resources (some held back), publications, freshness records — in bulk."""
    from catalog.entries import load_catalog
    from catalog.store import CatalogStore
    from catalog.tables import FreshnessRow, PublicationRow, VersionRow

    store = CatalogStore(url)
    resources = load_catalog()
    store.sync_resources(resources)
    now = datetime(2026, 11, 23, 8, 0)
    rows: list = []
    for r in resources:
        if rng.random() < 0.3:
            continue
        versions = rng.randint(1, 3)
        for v in range(1, versions + 1):
            rows_in = rng.randint(100, 50_000)
            bad = int(rows_in * rng.choice([0.01, 0.02, 0.03, 0.2]))
            landed = now - timedelta(days=rng.randint(0, 90), hours=v)
            fp = f"{rng.getrandbits(256):064x}"
            rows.append(VersionRow(
                resource_code=r.code, version=v, source_file=f"/inbox/{r.table}/{v}.csv", fingerprint=fp, encoding="utf-8",
                rows_in=rows_in, rows_accepted=rows_in - bad, rows_quarantined=bad, schema=[], validation_passed=bad / rows_in <= 0.05,
                gx_success=True, problems_by_rule={}, raw_path="", validated_path="", quarantine_path="", landed_at=landed,
                validated_at=landed, rules="bench", delivery_problems=[], produced_by=None))
        if rng.random() < 0.4:
            rows.append(PublicationRow(resource_code=r.code, ckan_id=r.code, ckan_name=r.code.lower(), url=f"http://portal/{r.code}",
                                       state=rng.choice(["published", "published", "retracted"]), version=versions,
                                       fingerprint="0" * 64, published_at=now))
        if rng.random() < 0.5:
            rows.append(FreshnessRow(resource_code=r.code, status=rng.choice(["on_time", "overdue"]), last_delivered_at=now,
                                     due_at=now + timedelta(days=1), checked_at=now + timedelta(days=365)))
    with store.session() as s:
        s.add_all(rows)


def random_query(rng: random.Random) -> tuple[str, dict[str, list[str]]]:
    """A text query (often empty) and one to three facets, one or two values each."""
    text = rng.choice(WORDS) if rng.random() < 0.6 else ""
    selection = {key: rng.sample(FACETS[key], rng.randint(1, 2)) for key in rng.sample(sorted(FACETS), rng.randint(1, 3))}
    return text, selection


def summary(label: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return f"{label:<38} median {statistics.median(ms):8.2f} ms   p95 {p95:8.2f} ms   ({len(ms)} searches)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def over_http(env: dict[str, str], queries: list[tuple[str, dict]]) -> tuple[list[float], int]:
    """Time GET /search on a real uvicorn; returns the timings and the size of the last page."""
    import httpx

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "web", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                              cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if client.get("/search").status_code == 200:  # also builds the snapshot
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the web server did not start")
                time.sleep(0.2)
            timings, size = [], 0
            for text, selection in queries:
                params = [("q", text)] + [(k, v) for k, values in selection.items() for v in values]
                started = time.perf_counter()
                answer = client.get("/search?" + urlencode(params))
                timings.append(time.perf_counter() - started)
                answer.raise_for_status()
                size = len(answer.content)
            return timings, size
    finally:
        server.terminate()
        server.wait(timeout=10)


@app.command()
def main(
    resources: Annotated[int, typer.Option(help="catalog size")] = 1000,
    queries: Annotated[int, typer.Option(help="searches per measurement")] = 300,
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    rng = random.Random(seed)
    root = Path(tempfile.mkdtemp(prefix="kcdata-bench-search-"))
    env = {
        "KCDATA_CATALOG_DIR": str(root / "catalog"),
        "KCDATA_CATALOG_URL": f"sqlite:///{root / 'catalog.db'}",
        "KCDATA_LAKE": str(root / "lake"),
        "KCDATA_INBOX": str(root / "inbox"),
    }
    os.environ.update(env)
    started = time.perf_counter()
    write_catalog(root / "catalog", resources)
    fill_store(env["KCDATA_CATALOG_URL"], rng)
    print(f"catalog of {resources} resources and its store written in {time.perf_counter() - started:.1f} s ({root})")

    from web.catalog_state import snapshots
    from web.search import search

    started = time.perf_counter()
    snapshot = snapshots.get()
    print(f"snapshot + index built in {(time.perf_counter() - started) * 1000:.0f} ms ({len(snapshot.resources)} resources)")
    started = time.perf_counter()
    for _ in range(100):
        snapshots.get()
    print(f"snapshot check (cached) {(time.perf_counter() - started) * 10:.3f} ms per request")

    mix = [random_query(rng) for _ in range(queries)]
    timings, hits = [], 0
    for text, selection in mix:
        t0 = time.perf_counter()
        result = search(snapshot.index, text, selection)
        timings.append(time.perf_counter() - t0)
        hits += result.total
    print(summary("in process: web.search.search()", timings) + f"   mean hits {hits / len(mix):.0f}")
    http, size = over_http(env, mix)
    print(summary("over HTTP: GET /search (uvicorn)", http) + f"   page {size / 1024:.0f} KiB")


if __name__ == "__main__":
    app()
