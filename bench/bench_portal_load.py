"""The public portal under load while a publish runs: how CKAN, served by gunicorn, holds up.

    .venv/bin/python bench/bench_portal_load.py [--clients 50] [--duration 60] [--publish auto|CODE|none]
                                                [--json bench/results/portal-load-<date>.json]

Against the running system's CKAN on loopback (`kcdata up`, with published datasets: `kcdata run`),
N anonymous clients (aiohttp, one event loop) send, until the deadline, a mix of what the public
does, picked from what the portal actually holds: package searches (a word of a title, with
facets), dataset pages (HTML), DataStore queries (`datastore_search`, and `datastore_search_sql`
when the portal enables it) and file downloads (read to the end). Meanwhile one dataset is
published for real: its "published version" marker is cleared (as an interrupted publish leaves
it), then `kcdata publish CODE` runs with the running system's settings, which re-patches the
dataset, re-syncs its files and reloads its DataStore table. The load stops by itself at the
deadline; the publish is awaited (bounded by --publish-timeout).

Prints requests per second, p50/p95 latency and errors per kind, and the publish's outcome; saves
the same as JSON. An error is a transport failure, a timeout, a status other than 200, or an API
answer with success false; errors on the dataset being published are also counted apart.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.sqltext import ident  # noqa: E402

KINDS = ("search", "dataset_page", "datastore_search", "datastore_search_sql", "download")
WEIGHTS = {"search": 30, "dataset_page": 25, "datastore_search": 20, "datastore_search_sql": 5, "download": 20}
REQUEST_TIMEOUT_S = 60


@dataclass
class Holdings:
    """What the portal shows the public: what the clients pick their requests from."""

    datasets: list[str]
    words: list[str]
    tables: list[tuple[str, int, str]]  # (resource id, rows, dataset name)
    downloads: list[tuple[str, str]]  # (url, dataset name)
    sql: bool


@dataclass
class Tally:
    """Every request's latency and every error, per kind."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors_on_published: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def record(self, kind: str, seconds: float, error: str | None, dataset: str | None, publishing: str | None) -> None:
        self.latencies[kind].append(seconds)
        if error is None:
            return
        self.errors[kind] += 1
        if dataset is not None and dataset == publishing:
            self.errors_on_published[kind] += 1
        if len(self.samples[kind]) < 5:
            self.samples[kind].append(f"{dataset or ''}: {error}"[:300])


async def _api(session: aiohttp.ClientSession, url: str, action: str, **params: object) -> dict:
    async with session.get(f"{url}/api/3/action/{action}",
                           params={k: json.dumps(v) if isinstance(v, list | dict) else str(v) for k, v in params.items()}) as r:
        body = await r.json(content_type=None)
    if not isinstance(body, dict) or not body.get("success"):  # CKAN answers a bare string for an unknown action
        raise RuntimeError(f"{action}: {body.get('error') if isinstance(body, dict) else body}")
    return body["result"]


async def discover(session: aiohttp.ClientSession, url: str) -> tuple[Holdings, list[dict]]:
    """The public datasets, their title words, DataStore tables and downloadable files."""
    found = await _api(session, url, "package_search", q="*:*", rows=1000)
    packages = found["results"]
    words: set[str] = set()
    tables, downloads = [], []
    for p in packages:
        words.update(w for w in re.split(r"[\s,;:()（）/]+", f"{p.get('title', '')} {p.get('title_en', '')}") if len(w) >= 2)
        for res in p.get("resources", []):
            if res.get("url", "").startswith(url) and res.get("url_type") == "upload":
                downloads.append((res["url"], p["name"]))
            if res.get("datastore_active"):
                info = await _api(session, url, "datastore_search", resource_id=res["id"], limit=0)
                tables.append((res["id"], int(info.get("total", 0)), p["name"]))
    sql = False
    if tables:
        try:
            await _api(session, url, "datastore_search_sql", sql=f"SELECT count(*) FROM {ident(tables[0][0])}")
            sql = True
        except RuntimeError:
            sql = False  # ckan.datastore.sqlsearch.enabled is off (CKAN's default): no such action
    holdings = Holdings([p["name"] for p in packages], sorted(words), tables, downloads, sql)
    return holdings, packages


async def _one(session: aiohttp.ClientSession, url: str, kind: str, h: Holdings, rng: random.Random) -> tuple[str | None, str | None]:
    """Send one request of `kind`; (error or None, the dataset it concerned)."""
    dataset = None
    if kind == "search":
        req = (f"{url}/api/3/action/package_search",
               {"q": rng.choice(h.words), "rows": "20", "facet.field": '["organization","tags","res_format"]'})
    elif kind == "dataset_page":
        dataset = rng.choice(h.datasets)
        req = (f"{url}/dataset/{dataset}", None)
    elif kind == "datastore_search":
        rid, rows, dataset = rng.choice(h.tables)
        req = (f"{url}/api/3/action/datastore_search",
               {"resource_id": rid, "limit": "100", "offset": str(rng.randrange(max(rows - 100, 1)))})
    elif kind == "datastore_search_sql":
        rid, rows, dataset = rng.choice(h.tables)
        req = (f"{url}/api/3/action/datastore_search_sql",
               {"sql": f"SELECT * FROM {ident(rid)} ORDER BY _id LIMIT 100 OFFSET {rng.randrange(max(rows - 100, 1))}"})
    else:
        link, dataset = rng.choice(h.downloads)
        req = (link, None)
    async with session.get(req[0], params=req[1]) as r:
        if kind in ("dataset_page", "download"):
            async for _ in r.content.iter_chunked(1 << 16):
                pass
            return (None if r.status == 200 else f"HTTP {r.status}"), dataset
        body = await r.json(content_type=None)
        if r.status != 200 or not isinstance(body, dict) or not body.get("success"):
            why = body.get("error") if isinstance(body, dict) else body
            return f"HTTP {r.status} {json.dumps(why, ensure_ascii=False)}", dataset
    return None, dataset


async def _client(session: aiohttp.ClientSession, url: str, h: Holdings, kinds: list[str], weights: list[int],
                  deadline: float, tally: Tally, publishing: dict, seed: int) -> None:
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        t0 = time.monotonic()
        try:
            error, dataset = await _one(session, url, kind, h, rng)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            error, dataset = f"{type(exc).__name__}: {exc}", None
        tally.record(kind, time.monotonic() - t0, error, dataset, publishing.get("dataset"))


def _stale_marker(url: str, token: str, dataset: str) -> None:
    """Clear the dataset's version marker, so that publishing it does the whole work again."""
    import ckanapi

    ckanapi.RemoteCKAN(url, apikey=token).action.package_patch(id=dataset, fingerprint="")


def _publish(code: str, timeout: float) -> dict:
    """`kcdata publish CODE` with the running system's settings (its lake, inbox, catalog)."""
    from stack import get_layout
    from stack import secrets as sec

    env = {**os.environ, **sec.load(get_layout().system_env)}
    t0 = time.monotonic()
    try:
        done = subprocess.run([str(Path(sys.executable).parent / "kcdata"), "publish", code], capture_output=True,
                              text=True, env=env, timeout=timeout, cwd=ROOT)
        out, rc = (done.stdout + done.stderr).strip(), done.returncode
    except subprocess.TimeoutExpired:
        out, rc = f"timed out after {timeout:.0f} s", -1
    last = out.splitlines()[-1] if out else ""
    ok = rc == 0 and re.search(rf"{re.escape(code)}: (published|updated)\b", out) is not None
    return {"ok": ok, "returncode": rc, "output": last[:300], "seconds": round(time.monotonic() - t0, 2)}


def _pick_publish(choice: str, h: Holdings, packages: list[dict]) -> tuple[str, str] | None:
    """(resource code, dataset name) to publish: the biggest DataStore table's, or the one named."""
    if choice == "none":
        return None
    by_name = {p["name"]: p for p in packages}
    if choice == "auto":
        if not h.tables:
            return None
        dataset = max(h.tables, key=lambda t: t[1])[2]
        return by_name[dataset]["resource_code"], dataset
    for p in packages:
        if p.get("resource_code") == choice:
            return choice, p["name"]
    raise SystemExit(f"{choice}: no public dataset with this resource code on the portal")


def _percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def run_load(url: str, clients: int, duration: float, publish: str = "auto", token: str | None = None,
                   publish_timeout: float = 900, seed: int = 12) -> dict:
    """The whole run; returns the figures (see the module docstring)."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=clients, limit_per_host=clients)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        holdings, packages = await discover(session, url)
        if not holdings.datasets:
            raise SystemExit(f"{url} holds no public dataset: run `kcdata run` first")
        kinds = [k for k in KINDS if {"search": holdings.words, "dataset_page": holdings.datasets,
                                      "datastore_search": holdings.tables, "datastore_search_sql": holdings.sql,
                                      "download": holdings.downloads}[k]]
        picked = _pick_publish(publish, holdings, packages)
        publishing: dict = {}
        tally = Tally()
        t0 = time.monotonic()
        deadline = t0 + duration
        load = [asyncio.create_task(_client(session, url, holdings, kinds, [WEIGHTS[k] for k in kinds], deadline,
                                            tally, publishing, seed + i)) for i in range(clients)]
        job = None
        if picked is not None:
            await asyncio.sleep(min(5.0, duration / 5))  # let the load settle first
            code, dataset = picked
            publishing.update(code=code, dataset=dataset, started_s=round(time.monotonic() - t0, 2))
            await asyncio.to_thread(_stale_marker, url, token or "", dataset)
            job = asyncio.create_task(asyncio.to_thread(_publish, code, publish_timeout))
        await asyncio.gather(*load)
        load_s = time.monotonic() - t0
        if job is not None:
            publishing.update(await job)
            publishing["ended_s"] = round(publishing["started_s"] + publishing["seconds"], 2)
            publishing["within_load"] = publishing["ended_s"] <= load_s
    per_kind = {}
    for k in kinds:
        lat = tally.latencies.get(k, [])
        per_kind[k] = {"requests": len(lat), "rps": round(len(lat) / load_s, 1),
                       "p50_ms": round(_percentile(lat, 50) * 1000, 1), "p95_ms": round(_percentile(lat, 95) * 1000, 1),
                       "max_ms": round(max(lat, default=0) * 1000, 1), "errors": tally.errors.get(k, 0),
                       "errors_on_published_dataset": tally.errors_on_published.get(k, 0),
                       "error_samples": tally.samples.get(k, [])}
    everything = [x for k in kinds for x in tally.latencies.get(k, [])]
    return {
        "url": url, "clients": clients, "duration_s": round(load_s, 1),
        "holdings": {"datasets": len(holdings.datasets), "datastore_tables": len(holdings.tables),
                     "datastore_rows": sum(t[1] for t in holdings.tables), "downloads": len(holdings.downloads),
                     "datastore_search_sql": holdings.sql},
        "total": {"requests": len(everything), "rps": round(len(everything) / load_s, 1),
                  "p50_ms": round(_percentile(everything, 50) * 1000, 1),
                  "p95_ms": round(_percentile(everything, 95) * 1000, 1), "errors": sum(tally.errors.values())},
        "kinds": per_kind,
        "publish": publishing or None,
    }


def _server() -> dict:
    """How the portal is served (from `kcdata status`'s own data), for the record."""
    from stack import ckan, status

    state = status()
    return {"ckan": state["ckan"].detail.split(";")[0], "ckan_jobs": state[ckan.JOBS].running,
            "workers": ckan.WORKERS, "threads": ckan.THREADS, "cpus": os.cpu_count(),
            "loadavg_after": [round(x, 2) for x in os.getloadavg()]}


def print_table(result: dict) -> None:
    print(f"{result['url']}: {result['clients']} clients for {result['duration_s']} s; portal holds "
          f"{result['holdings']['datasets']} datasets, {result['holdings']['datastore_tables']} DataStore tables "
          f"({result['holdings']['datastore_rows']:,} rows), {result['holdings']['downloads']} files")
    print(f"{'kind':<22}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'errors':>8}")
    for k, v in result["kinds"].items():
        print(f"{k:<22}{v['requests']:>9}{v['rps']:>8}{v['p50_ms']:>9}{v['p95_ms']:>9}{v['max_ms']:>9}{v['errors']:>8}")
    t = result["total"]
    print(f"{'all':<22}{t['requests']:>9}{t['rps']:>8}{t['p50_ms']:>9}{t['p95_ms']:>9}{'':>9}{t['errors']:>8}")
    for k, v in result["kinds"].items():
        for s in v["error_samples"]:
            print(f"  {k} error: {s}")
    p = result["publish"]
    if p:
        print(f"publish {p['code']} ({p['dataset']}): {'succeeded' if p['ok'] else 'FAILED'} in {p['seconds']} s, "
              f"from {p['started_s']} s to {p['ended_s']} s of the load ({p['output']})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--publish", default="auto", help="auto (the biggest DataStore table's dataset), a resource code, or none")
    parser.add_argument("--publish-timeout", type=float, default=900.0)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / f"portal-load-{date.today()}.json")
    args = parser.parse_args(argv)

    from stack import connection
    from stack.layout import ckan_url

    _, token = connection(local=True) if args.publish != "none" else ("", None)
    result = asyncio.run(run_load(ckan_url(), args.clients, args.duration, args.publish, token, args.publish_timeout))
    result["server"] = _server()
    print_table(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"figures: {args.json}")
    failed = result["total"]["errors"] > 0 or (result["publish"] is not None and not result["publish"]["ok"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
