"""A department's problem page and its rejected-rows CSV, as the department reads them, through
the web app's own test client (no server, no browser): a ragged row shows its cells as parsed,
personal ones masked, and no delivery is named by a path on the server."""
from __future__ import annotations

import csv
import io

import pytest

from catalog.entries import get_resource
from common.problems import Refusal

ENTERPRISES = get_resource("KC-SCJG-001")  # personal items: legal_representative, contact_phone
DEPARTMENT = ENTERPRISES.provider.slug
BOM = "\ufeff"


@pytest.fixture
def department_site(lake, tmp_path):
    """One delivery with a ragged row and one refused delivery, both from a folder standing in for
    the server's inbox; a signed-in member of the providing department; the web app's client."""
    from fastapi.testclient import TestClient

    from catalog.accounts import create_account, open_session
    from catalog.store import open_store
    from flow.pipeline import land_and_validate
    from samples.generate import generate_resource
    from web.app import create_app
    from web.auth import SESSION_COOKIE

    inbox = tmp_path / "server" / "inbox" / ENTERPRISES.table
    inbox.mkdir(parents=True)
    sample = generate_resource(ENTERPRISES, tmp_path / "clean", rows=5, bad_share=0.0, seed=4)
    rows = list(csv.reader(io.StringIO(sample.path.read_bytes().decode("gb18030"), newline="")))
    rows[2] = [*rows[2], "备注：多写了一列"]  # 10 fields where the header has 9
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    delivery = inbox / "企业登记_11月.csv"
    delivery.write_text(out.getvalue(), encoding="utf-8")
    store = open_store()
    store.sync_resources([ENTERPRISES])
    land_and_validate(ENTERPRISES, delivery)
    header_only = inbox / "只有表头.csv"
    header_only.write_text(out.getvalue().splitlines()[0] + "\n", encoding="utf-8")
    with pytest.raises(Refusal):
        land_and_validate(ENTERPRISES, header_only)
    account = create_account(store, "scjg_user", "correct horse battery staple", "department_user", DEPARTMENT)
    client = TestClient(create_app())
    client.cookies.set(SESSION_COOKIE, open_session(store, account, client="testclient"))
    return client, rows, tmp_path / "server"


def _csv(answer) -> list[list[str]]:
    assert answer.status_code == 200
    text = answer.content.decode("utf-8")
    assert text.startswith(BOM)
    return list(csv.reader(io.StringIO(text[len(BOM):])))


def test_a_ragged_row_shows_its_cells_masked_where_personal(department_site):
    client, rows, _ = department_site
    lines = _csv(client.get(f"/department/{DEPARTMENT}/problems/{ENTERPRISES.code}/v1.csv"))
    header = lines[0]
    [ragged] = [line for line in lines[1:] if line[0] == "2"]
    cell = dict(zip(header, ragged, strict=True))
    sent = dict(zip(rows[0], rows[2], strict=False))
    assert "ragged-row" in cell["问题代码 Problem"] and "10 fields; the header has 9" in cell["description"]
    for public in ("统一社会信用代码", "企业名称", "注册资本（万元）", "成立日期"):
        assert cell[public] == sent[public], f"{public}: shown as parsed"
    for personal in ("法定代表人", "联系电话"):
        assert cell[personal].endswith("（已脱敏 masked）") and sent[personal] not in cell[personal]
        assert cell[personal][0] == sent[personal][0], "masked, not hidden: its first character stays"
    assert cell["其他字段 Other fields (as parsed)"].endswith("（已脱敏 masked）"), "past a personal column: may be its value"
    assert sent["法定代表人"] not in ",".join(ragged) and sent["联系电话"] not in ",".join(ragged)


def test_no_page_or_download_names_a_server_path(department_site):
    client, _, server = department_site
    page = client.get(f"/department/{DEPARTMENT}/problems")
    assert page.status_code == 200
    text = page.text
    assert "企业登记_11月.csv" in text and "只有表头.csv" in text and "送达" in text, "file name and delivery time"
    assert str(server) not in text and "/inbox/" not in text
    refused = _csv(client.get(f"/department/{DEPARTMENT}/problems/{ENTERPRISES.code}/refused.csv"))
    assert refused[1][0] == "只有表头.csv" and refused[1][4] == "no-data-rows"
    assert not any(str(server) in cell for line in refused for cell in line)
