"""What the CLI prints: the catalog, one resource, and the end-of-run summary."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from catalog.freshness import Freshness, Status, duration_text
from catalog.store import open_store
from common.errors import KcdataError
from common.problems import hide_paths
from common.settings import get_paths

if TYPE_CHECKING:
    from catalog.model import Resource
    from catalog.store import CatalogStore
    from catalog.tables import VersionRow
    from flow.pipeline import IngestResult
    from flow.refusal import Refused


def delivered(source_file: str, when: datetime) -> str:
    """A delivery as its department knows it: the file's name and when it landed (Beijing time),
    never the inbox path on the server (archived away after landing)."""
    from catalog.freshness import beijing_text

    return f"{Path(source_file).name} ({beijing_text(when)})" if when else Path(source_file).name


def status_text(state: Freshness) -> str:
    """The state in a few words, both languages, coloured: in `kcdata catalog list` and `kcdata freshness`."""
    if state.status is Status.overdue:
        return f"[red]逾期 overdue {duration_text(state.overdue_by, parts=1)}[/red]" if state.overdue_by else "[red]逾期 overdue[/red]"
    if state.status is Status.on_time:
        return "[green]按时 on time[/green]"
    return "[dim]未提交 none yet[/dim]"


def catalog_table() -> Table:
    """The 全量 catalog: every resource, open or not, with its latest version and its freshness
    (delivered within its update cycle or overdue, see catalog/freshness.py)."""
    from catalog.entries import load_catalog
    from flow.alerts import freshness_overview

    store = open_store()
    store.sync_resources(load_catalog())
    fresh = {line.resource.code: status_text(line.state) for line in freshness_overview(store=store)}
    table = Table(title="数据资源目录 · data-resource catalog")
    table.add_column("code", no_wrap=True)
    for col in ("name", "department", "open", "grade", "cycle", "version", "rows", "accepted", "quarantined", "quality", "时效 freshness"):
        table.add_column(col)
    for row, v in store.resources():
        quality = "—" if v is None else ("[green]passed[/green]" if v.validation_passed else "[red]held back[/red]")
        table.add_row(
            row.code, row.name, row.department_slug, row.open_type, row.grade,
            row.update_cycle, "—" if v is None else f"v{v.version}",
            "—" if v is None else f"{v.rows_in:,}", "—" if v is None else f"{v.rows_accepted:,}",
            "—" if v is None else f"{v.rows_quarantined:,}", quality, fresh.get(row.code, "—"),
        )
    return table


def print_resource(console: Console, code: str) -> None:
    """Catalog fields, items, versions and lineage of one resource."""
    from catalog.entries import get_resource

    resource = get_resource(code)
    store = open_store()
    store.sync_resources([resource])
    row, versions, edges = store.resource(resource.code)
    if row is None:
        raise KcdataError(f"{code}: not in the catalog store")
    r = resource
    console.print(f"[bold]{r.code} {r.name}[/bold] ({r.name_en})")
    for label, value in [
        ("信息资源分类 category", r.category), ("提供方 provider", f"{r.provider.name} ({r.provider.code})"),
        ("摘要 summary", r.summary), ("格式 format", r.format), ("共享 share", f"{r.share.type.value} {r.share.condition or ''}"),
        ("开放 open", f"{r.open.type.value} {r.open.condition or ''}"), ("更新周期 cycle", r.update_cycle.value),
        ("发布日期 published", r.published_at.isoformat()), ("分级 grade", r.grade.value),
        ("关联资源 related", ", ".join(r.related) or "—"), ("主键 key", ", ".join(r.key) or "—"),
    ]:
        console.print(f"  {label}: {value}")
    items = Table(title="信息项 items")
    for col in ("name", "code", "type", "required", "unique", "rule", "unit", "sensitivity", "open view"):
        items.add_column(col)
    for i in r.items:
        rule = i.pattern or (f"{i.range[0]}..{i.range[1]}" if i.range else "") or ("/".join(i.allowed) if i.allowed else "")
        if i.derived:
            rule = f"derived: {i.derived}"
        flags = ("✓" if i.required else "", "✓" if i.unique else "")
        treatment = i.effective_treatment.spec if i.effective_treatment else "undeclared: not publishable"
        items.add_row(i.name, i.code, i.type.value, *flags, rule, i.unit or "", i.sensitivity.value if i.sensitivity else "—", treatment)
    console.print(items)
    vt = Table(title="versions")
    for col in ("version", "file (delivered)", "fingerprint", "rows", "accepted", "quarantined", "validation", "problems", "validated at"):
        vt.add_column(col)
    for v in versions:
        vt.add_row(
            f"v{v.version}", delivered(v.source_file, v.landed_at), v.fingerprint[:16],
            f"{v.rows_in:,}", f"{v.rows_accepted:,}", f"{v.rows_quarantined:,}",
            "passed" if v.validation_passed else "held back", ", ".join(f"{k}={n}" for k, n in v.problems_by_rule.items()),
            v.validated_at.isoformat(timespec="seconds"),
        )
    console.print(vt)
    _print_problems(console, store, r, versions)
    console.print("[bold]lineage[/bold]")
    for e in edges:
        console.print(f"  {e.step:<10} {e.source_uri} → {e.target_uri}")
    console.print("[bold]approvals[/bold]")
    for a in store.approvals(resource.code):
        console.print(f"  {a.at:%Y-%m-%d %H:%M} {a.action:<8} by {a.by} (version {a.version or '—'}) {a.note}")
    publication = store.publication(resource.code)
    if publication:
        console.print(f"[bold]portal[/bold] {publication.state} v{publication.version} {publication.url} (CKAN id {publication.ckan_id})")
    _print_gate(console, store, resource)


def _print_gate(console: Console, store: CatalogStore, resource: Resource) -> None:
    """Why the resource is (not) on the portal: the gate's rules and the newest leak-gate outcome."""
    from catalog import gate_records
    from flow.approvals import gate_status

    status = gate_status(resource, store)
    if status.reasons:
        console.print("[bold]publication gate[/bold] [red]not published[/red]:")
        for reason in status.reasons:
            console.print(f"  {escape(reason)}", soft_wrap=True)
        if status.advice:
            console.print(f"  {escape(status.advice.format(code=resource.code))}", soft_wrap=True)
    else:
        console.print("[bold]publication gate[/bold] passes: the next publish run puts the latest version on the portal")
    for w in status.waived:
        console.print(f"  allowed by exception #{w['exception']}: {w['file']} column {w['column']}: {w['rule']} in {w['cells']:,} cell(s)",
                      soft_wrap=True)
    for row in gate_records.exceptions(store, resource.code):
        label = gate_records.status_label(row)
        console.print(f"  leak-gate exception #{row.id}: {row.column} / {row.rule} ({label}): {escape(row.reason)}", soft_wrap=True)


def _print_problems(console: Console, store: CatalogStore, r: Resource, versions: list[VersionRow]) -> None:
    """Held-back latest version, refused deliveries, columns that drifted."""
    latest = versions[-1] if versions else None
    if latest is not None and not latest.validation_passed:
        share = latest.rows_quarantined / latest.rows_in if latest.rows_in else 1.0
        passing = store.latest_passing_version(r.code)
        shown = f"version {passing.version}, the last that passed" if passing else "no version yet"
        console.print(
            f"[red]held back[/red]: version {latest.version} has {share:.1%} of its rows quarantined, over the limit of "
            f"{r.max_bad_share:.1%}; the curated marts and the open view show {shown}."
        )
    refused = store.refused_deliveries(r.code)
    if refused:
        console.print("[bold]refused deliveries[/bold]")
        for f in refused:
            where = "".join(f", {k} {v}" for k, v in (("row", f.row), ("column", f.column)) if v)
            text = escape(f"{Path(f.source_file).name}{where}: [{f.code}] {f.message_en} / {f.message_zh}")
            console.print(f"  {f.refused_at:%Y-%m-%d %H:%M} {text}")
            console.print(f"    feedback: {f.feedback_path}")
    drifted = [(v.version, d) for v in versions for d in (v.delivery_problems or [])]
    if drifted:
        from expectations.report import message

        console.print("[bold]warnings: columns that drifted from the entry, cells trimmed[/bold]")
        for number, d in drifted:
            text = message(d["code"], None, **{k: v for k, v in d.items() if k != "code"})[1]
            console.print(f"  v{number}: {d['code']} {d.get('header') or d.get('column')}: {escape(text)}")


def print_run_summary(console: Console) -> None:
    """Where the results are: lake paths, the catalog, the quarantine feedback, the Data Docs."""
    from expectations.validate import build_data_docs

    paths = get_paths()
    console.print(catalog_table())
    console.print("[bold]Results[/bold]")
    for label, path in [
        ("raw batches", paths.raw), ("validated", paths.validated), ("quarantine (+ feedback.csv)", paths.quarantine),
        ("curated marts", paths.curated),
    ]:
        console.print(f"  {label:<28} {path}")
    for mart in sorted(paths.curated.glob("*.parquet")):
        console.print(f"    {mart.name}")
    console.print(f"  {'catalog store':<28} {paths.catalog_url}")
    console.print(f"  {'GX Data Docs':<28} {build_data_docs(paths)}")


def print_publication_summary(console: Console, portal_url: str) -> None:
    """What the public portal now shows, with each dataset's address."""
    from catalog.entries import load_catalog
    from portal.publisher import gate_decision

    store = open_store()
    console.print(f"[bold]Open-data portal[/bold] {portal_url}")
    for resource in load_catalog():
        pub = store.publication(resource.code)
        decision, _ = gate_decision(store, resource)
        why = f" ({'; '.join(decision.reasons)})" if decision.reasons else ""
        state = f"{pub.state} v{pub.version} {pub.url}" if pub and pub.state == "published" else "not published"
        console.print(f"  {resource.code} {resource.name}: {state}{why}")


def print_ingest_result(console: Console, result: IngestResult) -> None:
    """One version: its counts, how it ended and why, drift, where the feedback is."""
    o, landed = result.outcome, result.landed
    verdict = "[green]passed[/green]" if o.passed else "[red]held back[/red]"
    name = Path(landed.source_file).name
    again = " (validated again: the rules changed)" if landed.skipped and not o.skipped else ""
    console.print(f"{name}: v{result.version} {o.rows:,} rows, {o.accepted:,} accepted, {o.quarantined:,} quarantined, {verdict}{again}")
    if not o.passed:
        console.print(f"  {escape(o.verdict)}")
    from expectations.report import message

    for drift in o.delivery_problems:
        params = {k: v for k, v in drift.items() if k != "code"}
        console.print(f"  [yellow]{drift['code']}[/yellow]: {escape(message(drift['code'], None, **params)[1])}")
    if o.quarantined or not o.passed or o.delivery_problems:
        console.print(f"  feedback for the department: {o.feedback_path}")


def print_refused(console: Console, refused: Refused) -> None:
    """A refused delivery in one paragraph: the file, the place, the reason; and the feedback."""
    message = refused.message.replace(refused.source_file, Path(refused.source_file).name)
    console.print(f"[red]refused:[/red] {escape(hide_paths(message))}")
    console.print(f"  recorded in the catalog; feedback for the department: {refused.feedback_path}")
