"""The resource page: every catalog field, the data dictionary, versions with their Airflow runs,
the quality chart and lineage graph drawn by ECharts, freshness, the CKAN link — and sample rows
only for those the sharing rules allow, never with personal items."""
from __future__ import annotations

import httpx

AIR, TALENT, TRAFFIC, ENTERPRISES = "KC-STHJ-001", "KC-RLZY-001", "KC-JTYS-001", "KC-SCJG-001"  # as tests/web/conftest.py makes them


def get(web_server, path: str, user: str | None = None) -> httpx.Response:
    cookies = {"kcdata_session": web_server.data.session_token(user)} if user else None
    return httpx.get(web_server.url + path, cookies=cookies, headers={"accept": "text/html"}, timeout=30)


def test_the_page_shows_fields_dictionary_versions_charts_lineage_and_the_portal_link(page, web_server, artifact):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{web_server.url}/resource/{AIR}")

    fields = page.locator("#fields").inner_text()
    for label in ("信息资源代码", "Share type", "共享类型", "无条件共享", "更新周期", "实时", "数据分级", "提供方代码", "开放许可"):
        assert label in fields, label
    dictionary = page.locator("[data-testid=dictionary]").inner_text()
    assert "PM2.5浓度" in dictionary and "pm25" in dictionary and "μg/m³" in dictionary
    assert "0–1000" in dictionary and "1000.0" not in dictionary  # ranges as people write them
    assert "^ZSC\\d{3}$" in dictionary

    versions = page.locator("[data-testid=versions] tbody tr")
    assert versions.count() == 2
    assert versions.first.inner_text().startswith("v2")

    # ECharts drew both charts (a canvas inside each chart element)
    page.locator("#quality-chart canvas").first.wait_for(timeout=10_000)
    page.locator("#lineage-chart canvas").first.wait_for(timeout=10_000)
    assert page.locator("#quality-chart canvas").first.bounding_box()["height"] > 100
    lineage = page.locator("#lineage details")
    lineage.locator("summary").click()
    edges = lineage.inner_text()
    for step in ("land", "validate", "quarantine", "transform", "open", "publish"):
        assert step in edges, step

    link = page.locator("[data-testid=ckan-link]")
    assert link.get_attribute("href") == "http://127.0.0.1:5000/dataset/kc-sthj-001"
    assert "尚未评分" in page.locator("[data-testid=mqa]").inner_text()
    assert "生态环境分局审核员" in page.locator("#approvals").inner_text()
    page.screenshot(path=str(artifact("resource.png")), full_page=True)
    assert errors == []  # no script errors, no CSP refusals


def test_anonymous_visitors_see_no_sample_rows(page, web_server):
    page.goto(f"{web_server.url}/resource/{AIR}")
    assert page.locator("[data-testid=sample-rows]").count() == 0
    assert "Anonymous visitors see catalog metadata only" in page.locator("#sample").inner_text()
    html = get(web_server, f"/resource/{TALENT}").text
    assert "sample-rows" not in html


def test_a_signed_in_user_sees_open_view_rows_of_a_resource_shared_unconditionally(signed_in_page, web_server):
    page = signed_in_page("transport_user")
    page.goto(f"{web_server.url}/resource/{AIR}")
    table = page.locator("[data-testid=sample-rows]")
    assert 0 < table.locator("tbody tr").count() <= 20
    assert "监测站编码" in table.locator("thead").inner_text()
    assert "ZSC0" in table.locator("tbody").inner_text()
    assert "transport user" in page.locator("header").inner_text()


def test_rows_of_a_conditionally_shared_resource_only_for_its_department_and_never_personal_items(web_server):
    other = get(web_server, f"/resource/{TALENT}", "transport_user").text
    assert "sample-rows" not in other and "有条件共享：需提交共享申请并获批准" in other

    own = get(web_server, f"/resource/{TALENT}", "hr_user").text
    assert 'data-testid="sample-rows"' in own
    table = own.split('data-testid="sample-rows"', 1)[1].split("</table>", 1)[0]
    assert "人才编号" in table and "RC0" in table
    for personal in ("姓名", "公民身份号码", "出生日期", "手机号码", "full_name", "id_card_no", "mobile"):
        assert personal not in table, personal
    admin = get(web_server, f"/resource/{TALENT}", "bureau_admin").text
    assert 'data-testid="sample-rows"' in admin


def test_versions_link_to_the_airflow_run_that_made_them(web_server):
    html = get(web_server, f"/resource/{ENTERPRISES}").text
    assert ('href="http://airflow.test:8080/dags/ingest__enterprise_registrations/runs/'
            'asset_triggered__2026-11-23T08%3A00%3A00%2B00%3A00"') in html


def test_the_metadata_quality_score_and_its_history(page, web_server):
    page.goto(f"{web_server.url}/resource/{ENTERPRISES}")
    mqa = page.locator("[data-testid=mqa]")
    assert "310 / 405" in mqa.inner_text() and "良好 good" in mqa.inner_text()
    assert "findability" in mqa.inner_text()
    page.locator("#score-chart canvas").first.wait_for(timeout=10_000)


def test_a_held_back_version_and_a_never_delivered_resource_say_so(web_server):
    traffic = get(web_server, f"/resource/{TRAFFIC}").text
    assert "未通过 held back" in traffic and "最新版本未通过" in traffic
    never = get(web_server, "/resource/KC-ZSCQ-001").text
    assert "尚无版本" in never and "No version yet" in never
    assert 'data-status="overdue"' in never and 'class="overdue"' in never  # monthly, published months ago
    assert "Overdue by" in never


def test_the_department_problems_link_only_for_that_department_and_admins(web_server):
    link = 'href="/department/ecology_environment/problems"'
    assert link not in get(web_server, f"/resource/{AIR}").text
    assert link not in get(web_server, f"/resource/{AIR}", "transport_user").text
    assert link in get(web_server, f"/resource/{AIR}", "bureau_admin").text


def test_an_unknown_code_is_a_friendly_404_and_every_answer_has_security_headers(web_server):
    answer = get(web_server, "/resource/KC-NONE-999")
    assert answer.status_code == 404
    assert "未找到" in answer.text and "KC-NONE-999" in answer.text and "Traceback" not in answer.text
    for response in (answer, get(web_server, f"/resource/{AIR}"), get(web_server, "/static/web.css")):
        assert response.headers["content-security-policy"].startswith("default-src 'self'")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"]


def test_user_text_is_escaped_and_chart_data_is_never_inline_script(web_server):
    html = get(web_server, "/search?q=%3Cscript%3Ealert(1)%3C/script%3E").text
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    page = get(web_server, f"/resource/{AIR}").text
    scripts = page.split("<script")[1:]
    assert all(s.startswith(' src="') or s.startswith(' type="application/json"') for s in scripts), scripts


def test_rows_of_a_resource_that_is_not_shared_only_for_its_provider_and_bureau_admins():
    from catalog.accounts import Account, Role
    from catalog.entries import get_resource
    from catalog.model import Share, ShareType
    from web.sample_rows import access

    closed = get_resource(AIR).model_copy(update={"share": Share(type=ShareType.none, condition="仅供本部门使用")})
    provider = Account(1, "env_user", "", Role.department_user, "ecology_environment")
    other = Account(2, "transport_user", "", Role.department_user, "transport")
    admin = Account(3, "admin", "", Role.bureau_admin, None)
    assert access(closed, provider)[0] and access(closed, admin)[0]
    allowed, why_zh, why_en = access(closed, other)
    assert not allowed and "不予共享" in why_zh and "only the provider and bureau admins" in why_en
    assert not access(closed, None)[0]
