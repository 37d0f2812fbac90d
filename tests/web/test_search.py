"""Searching the catalog: Chinese substrings, case-insensitive English, facets that narrow (AND
across facets, OR within one) with counts that follow the selection, paging — first as pure
functions over plain records, then in a real browser against the real server."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from web.search import FacetSpec, SearchIndex, SearchRecord, search

AIR, TALENT, TRAFFIC, ENTERPRISES = "KC-STHJ-001", "KC-RLZY-001", "KC-JTYS-001", "KC-SCJG-001"  # as tests/web/conftest.py makes them

SPECS = [
    FacetSpec("department", "提供方", "Department", {"env": ("生态环境局", "Ecology"), "hr": ("人社局", "HR")}),
    FacetSpec("grade", "数据分级", "Grade"),
    FacetSpec("open_type", "开放属性", "Open type"),
]


def record(code: str, name: str, name_en: str, department: str, grade: str, open_type: str,
           items: str = "", summary: str = "") -> SearchRecord:
    return SearchRecord(code=code, name=name, name_en=name_en, summary=summary, item_text=items,
                        facets={"department": (department,), "grade": (grade,), "open_type": (open_type,)})


RECORDS = [
    record("KC-STHJ-001", "空气质量监测站小时数据", "Hourly air quality per station", "env", "一般", "无条件开放", "PM2.5浓度 pm25"),
    record("KC-STHJ-002", "水质自动监测数据", "Water quality", "env", "重要", "有条件开放", "溶解氧 dissolved_oxygen",
           summary="河涌断面的水质，含空气温度"),
    record("KC-RLZY-001", "人才认定登记信息", "Talent registry", "hr", "重要", "不予开放", "姓名 full_name 身份证"),
]


def codes(result) -> list[str]:
    return [h.code for h in result.hits]


def counts(result, key: str) -> dict[str, int]:
    facet = next(f for f in result.facets if f.spec.key == key)
    return {v.value: v.count for v in facet.values}


def test_chinese_substring_finds_a_word_inside_a_resource_name():
    index = SearchIndex(RECORDS, SPECS)
    assert codes(search(index, "空气")) == ["KC-STHJ-001", "KC-STHJ-002"]  # the name first, the summary after
    assert codes(search(index, "监测站")) == ["KC-STHJ-001"]
    assert codes(search(index, "身份证")) == ["KC-RLZY-001"]  # item names are searched too


def test_english_is_case_insensitive_and_every_word_must_match():
    index = SearchIndex(RECORDS, SPECS)
    assert codes(search(index, "AIR Quality")) == ["KC-STHJ-001"]
    assert codes(search(index, "quality")) == ["KC-STHJ-001", "KC-STHJ-002"]
    assert codes(search(index, "kc-rlzy")) == ["KC-RLZY-001"]
    assert codes(search(index, "air talent")) == []
    assert search(index, "   ").total == 3


def test_facets_narrow_with_and_across_and_or_within_and_counts_follow_the_selection():
    index = SearchIndex(RECORDS, SPECS)
    everything = search(index)
    assert counts(everything, "department") == {"env": 2, "hr": 1}
    assert counts(everything, "grade") == {"一般": 1, "重要": 2}

    env = search(index, selection={"department": ["env"]})
    assert codes(env) == ["KC-STHJ-001", "KC-STHJ-002"]
    assert counts(env, "grade") == {"一般": 1, "重要": 1}  # other facets count within the selection
    assert counts(env, "department") == {"env": 2, "hr": 1}  # a facet's own values stay countable (OR)

    both = search(index, selection={"department": ["env", "hr"]})
    assert both.total == 3  # OR within a facet

    narrowed = search(index, selection={"department": ["env"], "grade": ["重要"]})
    assert codes(narrowed) == ["KC-STHJ-002"]  # AND across facets
    assert counts(narrowed, "department") == {"env": 1, "hr": 1}

    with_text = search(index, "空气", {"grade": ["重要"]})
    assert codes(with_text) == ["KC-STHJ-002"]
    assert counts(with_text, "grade") == {"一般": 1, "重要": 1}


def test_a_selected_value_nobody_has_still_shows_so_it_can_be_removed():
    index = SearchIndex(RECORDS, SPECS)
    result = search(index, selection={"grade": ["核心"], "unknown_facet": ["x"]})
    assert result.total == 0
    assert result.selection == {"grade": ("核心",)}  # unknown facets are ignored, not an error
    core = next(v for f in result.facets if f.spec.key == "grade" for v in f.values if v.value == "核心")
    assert core.selected and core.count == 0


def test_paging_cuts_fifty_per_page_and_clamps_out_of_range_pages():
    many = [record(f"KC-TEST-{i:03d}", f"测试资源{i}", f"Test {i}", "env", "一般", "无条件开放") for i in range(120)]
    index = SearchIndex(many, SPECS)
    first = search(index, page=1)
    assert (first.total, first.pages, len(first.hits)) == (120, 3, 50)
    assert first.hits[0].code == "KC-TEST-000"
    last = search(index, page=3)
    assert len(last.hits) == 20 and last.hits[-1].code == "KC-TEST-119"
    assert search(index, page=99).page == 3
    assert search(index, page=-1).page == 1


def test_the_real_catalog_is_indexed_with_its_facets(web_env):
    from web.catalog_state import snapshots

    snapshot = snapshots.get()
    result = search(snapshot.index, "空气")
    assert AIR in codes(result)
    assert codes(search(snapshot.index, "", {"quality": ["failed"]})) == [TRAFFIC]
    assert codes(search(snapshot.index, "", {"publication": ["published"]})) == [AIR]
    assert TALENT in codes(search(snapshot.index, "", {"open_type": ["不予开放"]}))
    never = search(snapshot.index, "", {"quality": ["no_data"]})
    assert never.total == len(snapshot.resources) - 4


# --- in the browser, against the real server ---------------------------------------------------

def result_codes(page) -> list[str]:
    return page.locator("li.result").evaluate_all("items => items.map(i => i.dataset.code)")


def facet_count(page, facet: str, value: str) -> int:
    return int(page.locator(f'section[data-facet="{facet}"] li:has(a[data-facet-value="{value}"]) .count').inner_text())


def test_searching_air_in_the_browser_finds_the_air_quality_resource(page, web_server):
    page.goto(web_server.url + "/")
    page.fill("input[name=q]", "空气")
    page.click("form.search-form button[type=submit]")
    page.wait_for_url("**/search?q=*")
    assert result_codes(page) == [AIR]
    assert "空气质量监测站小时数据" in page.locator("li.result").first.inner_text()
    assert "q=%E7%A9%BA%E6%B0%94" in page.url  # the search is in the URL: shareable


def test_clicking_facets_narrows_the_results_counts_change_and_filters_are_removable(page, web_server, artifact):
    page.goto(web_server.url + "/")
    everything = result_codes(page)
    assert len(everything) >= 9
    open_before = facet_count(page, "open_type", "无条件开放")
    passed_before = facet_count(page, "quality", "passed")

    page.click('section[data-facet="quality"] a[data-facet-value="passed"]')
    page.wait_for_url("**quality=passed**")
    passed = result_codes(page)
    assert set(passed) == {AIR, TALENT, ENTERPRISES} and len(passed) == passed_before
    assert facet_count(page, "open_type", "无条件开放") < open_before  # counts follow the selection

    page.click('section[data-facet="open_type"] a[data-facet-value="无条件开放"]')
    page.wait_for_url("**open_type=**")
    assert set(result_codes(page)) == {AIR, ENTERPRISES}  # AND across facets
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"quality": ["passed"], "open_type": ["无条件开放"]}
    page.screenshot(path=str(artifact("search-facets.png")), full_page=True)

    page.click('a.chip[data-remove="quality=passed"]')  # remove one selected value
    page.wait_for_load_state()
    assert parse_qs(urlsplit(page.url).query) == {"open_type": ["无条件开放"]}
    assert TRAFFIC in result_codes(page)


def test_the_search_page_screenshot(page, web_server, artifact):
    page.goto(web_server.url + "/search?q=%E7%9B%91%E6%B5%8B")  # 监测
    assert AIR in result_codes(page)
    page.screenshot(path=str(artifact("search.png")), full_page=True)
    assert artifact("search.png").stat().st_size > 10_000
