"""The DataStore load's shaping, without CKAN: data.csv as the publisher writes it, loaded and
repaired as the extension's `kcdata_datastore_load` does, gives the open view's values back."""
from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import duckdb

from catalog.entries import get_resource
from common.formulas import FORMULA_PREFIXES
from governance.open_view import OpenView
from portal.files import write_files
from portal.publisher import apostrophe_cells

LOADSQL = Path(__file__).parents[2] / "portal" / "ckan" / "ckanext-kcdata" / "ckanext" / "kcdata" / "loadsql.py"


def _loadsql():
    """The extension's pure module (the extension itself runs in CKAN's own venv)."""
    spec = importlib.util.spec_from_file_location("kcdata_loadsql", LOADSQL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NAMES = [
    "=HYPERLINK(\"http://x\")",  # neutralised in the CSV, given back
    "'=1+1",  # its own apostrophe: looks neutralised in the CSV, kept as it is
    "'普通撇号",  # an apostrophe before no formula character: never touched
    '甲诊所 "总院", 东区',  # quotes and a comma
    "第一行\n第二行",  # a newline inside a cell
    "-",  # a lone formula character
    "",  # empty text, not NULL
    None,
    "\t缩进",
]


def test_the_load_gives_back_the_text_the_view_holds(tmp_path):
    clinics = get_resource("KC-WSJK-001")
    view_path = tmp_path / "open.parquet"
    values = ", ".join(
        f"('PDY{n:08d}', {_sql(name)}, '诊所', {_sql(NAMES[-1 - n])}, 5, '020-3123456{n}', 113.5, 23.4, DATE '2028-01-01')"
        for n, name in enumerate(NAMES)
    )
    duckdb.sql(
        f"COPY (SELECT * FROM (VALUES {values}) t(institution_code, institution_name, institution_type, address, beds, phone,"
        f" longitude, latitude, license_valid_until)) TO '{view_path}' (FORMAT parquet)"
    )
    view = OpenView(view_path, len(NAMES), [i.code for i in clinics.items], [])
    csv_file = {f.name: f for f in write_files(clinics, view, tmp_path / "out", with_data=True)}["data.csv"].path

    verbatim = apostrophe_cells(clinics, view)
    assert verbatim == {"institution_name": [2], "address": [len(NAMES) - 1]}

    loaded = _load_as_postgres_would(csv_file, [i.code for i in clinics.items], verbatim=verbatim)
    assert loaded == [(name, NAMES[-1 - n]) for n, name in enumerate(NAMES)]


def _sql(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def _load_as_postgres_would(csv_file: Path, columns: list[str], verbatim: dict) -> list[tuple]:
    """COPY's reading of the CSV into the staging table (header skipped; an unquoted empty cell is
    NULL, a quoted one empty text), its row number counting from 1, then read back through the
    extension's stored values."""
    loadsql = _loadsql()
    staging = loadsql.quote_ident(loadsql.staging_name("t"))
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE {staging} AS SELECT *, row_number() OVER () AS {loadsql.ROW} "
        f"FROM read_csv('{csv_file}', header = true, all_varchar = true, allow_quoted_nulls = false, names = {columns!r})"
    )
    values = ", ".join(loadsql.value_sql(c, "text", verbatim.get(c, [])) for c in ("institution_name", "address"))
    return con.execute(f"SELECT {values} FROM {staging} ORDER BY {loadsql.ROW}").fetchall()


def test_the_extension_neutralises_the_same_prefixes_as_the_csv_writer():
    assert _loadsql().FORMULA_PREFIXES == FORMULA_PREFIXES


def test_only_text_and_numerics_are_repaired_and_full_text_casts_what_json_would_print_the_same():
    loadsql = _loadsql()
    assert loadsql.value_sql("at", "timestamp without time zone") == '"at"'
    assert "trim_scale" in loadsql.value_sql("pm25", "numeric")
    assert loadsql.full_text_sql([("name", "text"), ("pm25", "numeric"), ("at", "timestamp without time zone")]) == (
        """to_tsvector(concat_ws(' ', "name"::text, "pm25"::text, to_json("at") #>> '{}'))""")
    assert loadsql.copy_sql('a"b', ["x", "y"]) == 'COPY "a""b" ("x", "y") FROM STDIN (FORMAT csv, HEADER true, ENCODING \'UTF8\')'


def test_an_index_or_trigger_moves_to_the_new_table_only_when_its_names_are_where_postgres_writes_them():
    loadsql = _loadsql()
    index = 'CREATE UNIQUE INDEX "ab12" ON public."r-1" USING btree (station_code, monitored_at)'
    assert loadsql.moved_definition(index, 'public."r-1"', 'public."r-1_kcdata_next"', '"ab12"', '"r-1_kcdata_i0"') == (
        'CREATE UNIQUE INDEX "r-1_kcdata_i0" ON public."r-1_kcdata_next" USING btree (station_code, monitored_at)')
    trigger = 'CREATE TRIGGER zfulltext BEFORE INSERT OR UPDATE ON public."r-1" FOR EACH ROW EXECUTE FUNCTION populate_full_text_trigger()'
    assert loadsql.moved_definition(trigger, 'public."r-1"', 'public."n"') == trigger.replace('public."r-1"', 'public."n"')
    assert loadsql.moved_definition(index, 'public."other"', 'public."n"', '"ab12"', '"x"') is None


def test_a_storage_stream_reads_back_whole_whatever_the_read_size():
    loadsql = _loadsql()
    rng = random.Random(25)
    data = bytes(rng.randrange(256) for _ in range(50_000))
    chunks, at = [], 0
    while at < len(data):
        step = rng.choice([1, 7, 4096, 20_000])
        chunks.append(data[at:at + step])
        at += step
    for size in (1, 100, 8192, 1 << 20):
        reader = loadsql.ChunkReader(iter(chunks))
        parts = []
        while block := reader.read(size):
            assert len(block) <= size
            parts.append(block)
        assert b"".join(parts) == data
    assert loadsql.ChunkReader(iter(chunks)).read() == data
