"""A department's problems page and CSV downloads: its own people (and bureau admins) see the
refused delivery and the quarantined rows with their reasons; anybody else gets 404 for every
URL, so guessing codes or versions reveals nothing."""
from __future__ import annotations

import csv
import io

from tests.web.conftest import CLINICS

BOM = b"\xef\xbb\xbf"


def _csv(answer) -> list[list[str]]:
    body = answer.body()
    assert body.startswith(BOM), "UTF-8 with BOM, so Excel reads the Chinese"
    return list(csv.reader(io.StringIO(body[len(BOM):].decode("utf-8"))))


def test_the_department_sees_its_problems_and_downloads_them(sign_in_as, accounts_site):
    page = sign_in_as("health_user")
    page.goto(f"{accounts_site.url}/department/health/problems")
    section = page.locator(f"[data-testid=problems-{CLINICS}]")
    text = section.inner_text()
    assert "clinics_broken.json" in text  # the delivery refused as a whole, with why
    assert "第 1 版" in text and "Version 1" in text

    refused = _csv(page.request.get(f"{accounts_site.url}/department/health/problems/{CLINICS}/refused.csv"))
    assert refused[0][:3] == ["文件 File", "资源代码 Code", "行号 Row"]
    assert len(refused) == 2 and refused[1][0].endswith("clinics_broken.json") and refused[1][1] == CLINICS
    assert refused[1][5] and refused[1][6]  # 问题说明 and description

    answer = page.request.get(f"{accounts_site.url}/department/health/problems/{CLINICS}/v1.csv")
    assert answer.status == 200 and "attachment" in answer.headers["content-disposition"]
    rows = _csv(answer)
    assert rows[0][:4] == ["行号 Row", "问题说明", "description", "问题代码 Problem"] and "机构名称" in rows[0]
    quarantined = [r for r in rows[1:] if r[0]]
    assert len(quarantined) == 4  # the version's rows_quarantined
    assert all(r[1] and r[2] and r[3] for r in quarantined), "every row carries its reasons"


def test_another_department_gets_404_for_every_guessed_url(sign_in_as, accounts_site):
    page = sign_in_as("transport_user")
    for path in (
        "/department/health/problems",
        f"/department/health/problems/{CLINICS}/refused.csv",
        f"/department/health/problems/{CLINICS}/v1.csv",
        f"/department/health/problems/{CLINICS}/v99.csv",
        "/department/health/problems/KC-NOPE-999/v1.csv",
        "/department/no_such_department/problems",
        f"/department/transport/problems/{CLINICS}/v1.csv",  # own department, someone else's resource
    ):
        answer = page.request.get(accounts_site.url + path)
        assert answer.status == 404, path
        assert "机构名称" not in answer.text() and "clinics" not in answer.text(), path
    page.goto(f"{accounts_site.url}/department/transport/problems")
    assert page.locator("h1").inner_text().startswith("黄埔区交通运输局")


def test_a_bureau_admin_sees_every_department(sign_in_as, accounts_site):
    page = sign_in_as("admin")
    assert page.request.get(f"{accounts_site.url}/department/health/problems/{CLINICS}/v1.csv").status == 200


def test_formula_cells_are_neutralised():
    from common.formulas import neutralise

    assert [neutralise(v) for v in ("=1+1", "+86", "-3", "@SUM(A1)", "正常", None, 12)] == [
        "'=1+1", "'+86", "'-3", "'@SUM(A1)", "正常", "", "12"]
