"""The lineage graph of one resource: department → file → raw → validated | quarantine → curated →
open → CKAN dataset, from the store's lineage edges and publication row.

Nodes get fixed columns (one per stage) so the graph reads left to right like the pipeline;
only the newest versions' edges are drawn (a resource delivered hourly would be unreadable)."""
from __future__ import annotations

from collections import defaultdict
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from catalog.model import Resource
from catalog.tables import LineageEdge, PublicationRow, VersionRow

MAX_VERSIONS = 3

# stage -> (column, label zh, label en)
STAGES = {
    "department": (0, "提供方", "department"),
    "file": (1, "交付文件", "delivered file"),
    "raw": (2, "原始区", "raw"),
    "validated": (3, "校验通过区", "validated"),
    "quarantine": (3, "隔离区", "quarantine"),
    "curated": (4, "加工区", "curated"),
    "open": (5, "开放视图", "open view"),
    "ckan": (6, "开放门户", "CKAN portal"),
}


def stage_of(uri: str) -> str:
    if uri.startswith("file://"):
        return "file"
    if uri.startswith("lake://"):
        zone = uri.removeprefix("lake://").split("/", 1)[0]
        return zone if zone in STAGES else "curated"
    return "file"


def node_label(uri: str) -> str:
    """A short name: the file's name, or `<zone> · <table or mart> · <batch>`."""
    if uri.startswith("file://"):
        return PurePosixPath(unquote(urlsplit(uri).path)).name or uri
    parts = uri.removeprefix("lake://").split("/")
    zone, rest = parts[0], parts[1:]
    batch = next((p.removeprefix("batch=")[:8] for p in rest if p.startswith("batch=")), None)
    name = "/".join(p for p in rest if not p.startswith("batch="))
    return f"{zone} · {name}" + (f" · {batch}" if batch else "")


def _node_id(uri: str) -> str:
    """A delivered file by its name (`file:企业登记.csv`): the page never shows the server's inbox
    path, which is gone once the file is archived; lake addresses stay as they are."""
    return f"file:{node_label(uri)}" if uri.startswith("file://") else uri


def _kept_edges(edges: list[LineageEdge], versions: list[VersionRow]) -> list[LineageEdge]:
    newest = {v.id for v in sorted(versions, key=lambda v: v.version)[-MAX_VERSIONS:]}
    return [e for e in edges if e.version_id is None or e.version_id in newest]


def lineage_graph(resource: Resource, edges: list[LineageEdge], versions: list[VersionRow], publication: PublicationRow | None) -> dict:
    """ECharts graph data ({nodes, links, categories}) plus the same edges as rows for the page's table."""
    kept = _kept_edges(edges, versions)
    nodes: dict[str, dict] = {}
    links: list[dict] = []

    def node(node_id: str, stage: str, name: str, url: str | None = None) -> str:
        if node_id not in nodes:
            nodes[node_id] = {"id": node_id, "name": name, "stage": stage, "url": url}
        return node_id

    department = node("department:" + resource.provider.slug, "department", resource.provider.name)
    for e in kept:
        source = node(_node_id(e.source_uri), stage_of(e.source_uri), node_label(e.source_uri))
        target = node(_node_id(e.target_uri), stage_of(e.target_uri), node_label(e.target_uri))
        links.append({"source": source, "target": target, "step": e.step})
        if nodes[source]["stage"] == "file":
            links.append({"source": department, "target": source, "step": "deliver"})
    if publication is not None:
        ckan = node("ckan:" + publication.ckan_name, "ckan", f"CKAN · {publication.ckan_name}", publication.url)
        published = next((v for v in versions if v.version == publication.version), None)
        opened = [n for n in nodes.values() if n["stage"] == "open"]
        found = next((n["id"] for n in opened if published is not None and f"batch={published.fingerprint[:16]}" in n["id"]), None)
        source = found or (opened[-1]["id"] if opened else department)
        links.append({"source": source, "target": ckan, "step": "publish"})
    links = [dict(t) for t in {tuple(sorted(link.items())) for link in links}]
    _place(nodes)
    categories = list(dict.fromkeys(n["stage"] for n in nodes.values()))
    links.sort(key=lambda link: (STAGES[nodes[link["source"]]["stage"]][0], STAGES[nodes[link["target"]]["stage"]][0], link["source"]))
    return {
        "nodes": [{**n, "category": categories.index(n["stage"])} for n in nodes.values()],
        "links": links,
        "categories": [{"name": f"{STAGES[c][1]} {STAGES[c][2]}"} for c in categories],
        "rows": [{"step": link["step"], "source": nodes[link["source"]]["name"], "target": nodes[link["target"]]["name"],
                  "source_uri": link["source"], "target_uri": link["target"]} for link in links],
        "omitted_versions": max(0, len(versions) - MAX_VERSIONS),
    }


def _place(nodes: dict[str, dict]) -> None:
    """x by stage column, y spread evenly within a column."""
    columns: dict[int, list[dict]] = defaultdict(list)
    for n in nodes.values():
        columns[STAGES[n["stage"]][0]].append(n)
    for column, members in columns.items():
        for row, n in enumerate(sorted(members, key=lambda n: (n["stage"], n["id"]))):
            n["x"] = column * 180
            n["y"] = (row - (len(members) - 1) / 2) * 70
