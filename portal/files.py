"""The files the public downloads: CSV (Excel-safe), Parquet, and the data dictionary."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from catalog.model import Item, ItemType, Resource, TreatmentKind
from common.checksums import sha256_file
from common.formulas import neutralise_sql
from common.lake import OpenView
from common.sqltext import ident, literal


@dataclass(frozen=True)
class PublishedFile:
    name: str  # stable resource name on the portal
    path: Path
    format: str
    description: str
    sha256: str


def write_files(resource: Resource, view: OpenView, folder: Path, with_data: bool) -> list[PublishedFile]:
    """Write the portal files for `view` into `folder`; data files only when `with_data`."""
    from common.lake_store import connect as lake_connection

    folder.mkdir(parents=True, exist_ok=True)
    items = [resource.item(c) for c in view.columns]
    files: list[PublishedFile] = []
    con = lake_connection()
    src = literal(view.path)
    if with_data:
        csv_path = folder / f"{resource.table}.csv"
        select = ", ".join(f"{_csv_cell(i.published_type, i.code)} AS {ident(i.name)}" for i in items)
        body = folder / ".body.csv"
        con.execute(
            f"COPY (SELECT {select} FROM read_parquet({src}, hive_partitioning = false)) TO {literal(body)} "
            "(FORMAT csv, HEADER true, DATEFORMAT '%Y-%m-%d', TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S')"
        )
        with csv_path.open("wb") as out, body.open("rb") as src_fh:
            out.write(b"\xef\xbb\xbf")  # so Excel opens it as UTF-8
            while block := src_fh.read(1 << 20):
                out.write(block)
        body.unlink()
        files.append(PublishedFile("data.csv", csv_path, "CSV", f"{resource.name}（CSV，UTF-8，含BOM）", sha256_file(csv_path)))
        parquet_path = folder / f"{resource.table}.parquet"
        typed = ", ".join(f"{_typed(i.published_type, i.code)} AS {ident(i.code)}" for i in items)
        con.execute(
            f"COPY (SELECT {typed} FROM read_parquet({src}, hive_partitioning = false)) "
            f"TO {literal(parquet_path)} (FORMAT parquet, COMPRESSION zstd)"
        )
        files.append(PublishedFile("data.parquet", parquet_path, "Parquet", f"{resource.name}（Parquet）", sha256_file(parquet_path)))
    dictionary = folder / f"{resource.table}_data_dictionary.csv"
    write_dictionary(resource, view, dictionary)
    files.append(PublishedFile("data-dictionary.csv", dictionary, "CSV", "数据字典 Data dictionary", sha256_file(dictionary)))
    con.close()
    return files


def _typed(item_type: ItemType, column: str) -> str:
    """Integer items as integers whatever the view stored them as (never 3.0)."""
    return f"CAST({ident(column)} AS BIGINT)" if item_type is ItemType.I else ident(column)


def _csv_cell(item_type: ItemType, column: str) -> str:
    """One CSV cell: text made Excel-safe, integers as integers, whole decimals without `.0`."""
    quoted = ident(column)
    if item_type is ItemType.C:
        return neutralise_sql(quoted)
    if item_type is ItemType.N:
        return (f"CASE WHEN {quoted} = trunc({quoted}) AND abs({quoted}) < 1e15 "
                f"THEN CAST(CAST({quoted} AS BIGINT) AS VARCHAR) ELSE CAST({quoted} AS VARCHAR) END")
    return _typed(item_type, column)


def write_dictionary(resource: Resource, view: OpenView, path: Path) -> None:
    """One row per published item: 中文名, column, type (as published), unit, required, rule,
    description, sensitivity, and how the open view treated it (`掩码 mask (138****1234)`)."""
    import csv

    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["信息项名称 item", "字段 column", "类型 type", "单位 unit", "必填 required", "规则 rule", "说明 description",
                    "敏感性 sensitivity", "处理方式 treatment"])
        for code in view.columns:
            i = resource.item(code)
            w.writerow([i.name, i.code, i.published_type.value, i.unit or "", "是" if i.required else "否", _rule(i),
                        i.description, i.sensitivity_label, i.treatment_label])


def _rule(item: Item) -> str:
    """The item's check, where it still describes the published values (a masked phone number
    no longer matches the pattern it was validated with)."""
    if item.derived:
        return f"派生 derived: {item.derived}"
    t = item.effective_treatment
    if (t is not None and t.kind in (TreatmentKind.mask, TreatmentKind.pseudonymise)) or item.published_type is not item.type:
        return ""
    return item.pattern or item.range_text or ("、".join(item.allowed) if item.allowed else "")
