"""The bureau's engineers operate the pipeline in Airflow's UI: a real browser (Debian's Chromium,
driven by Playwright, no browser download) signs in with the generated admin password and sees the
kcdata DAGs with their last runs."""
from __future__ import annotations


def test_engineer_signs_in_and_sees_the_kcdata_dags_with_their_runs(system, browser, tmp_path):
    from stack import get_layout
    from stack import secrets as sec
    from stack.airflow import ADMIN
    from stack.layout import airflow_url

    if not any(system.api.runs("govern__freshness")):
        system.api.wait_for_run("govern__freshness", system.api.trigger("govern__freshness"), timeout=300)
    password = sec.load(get_layout().secrets_file)[sec.AIRFLOW_ADMIN_PASSWORD]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{airflow_url()}/dags?tags=kcdata")
        page.fill("input[name=username]", ADMIN)
        page.fill("input[name=password]", "not the password")
        page.keyboard.press("Enter")
        page.wait_for_timeout(1500)
        assert "/auth/login" in page.url  # a wrong password does not get in
        page.fill("input[name=password]", password)
        page.keyboard.press("Enter")
        page.wait_for_url("**/dags**", timeout=30_000)
        page.get_by_text("govern__freshness").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(tmp_path / "airflow-dags.png"))
        body = page.inner_text("body")
    finally:
        page.close()
    for dag_id in ("chain__deliveries", "publish__portal", "govern__freshness"):
        assert dag_id in body, dag_id
    assert "Latest Run" in body
