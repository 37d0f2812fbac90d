"""A department's real-looking dataset reaches the portal on the running system by the docs'
own commands, and every block on the way is told to the department where it looks.

The entry is added to the running system's catalog folder as the docs say; the commands are
read from the "Adding a dataset" page's block (docs/departments/adding-a-dataset.md) and run as written (placeholders
filled in). The file is shaped like a province's enterprise registrations: multi-line quoted
fields, `N/A` for missing values, a capital written `200(万美元)`, and a free-text business scope
holding land-certificate numbers (`惠府国用（2009）第13021120006号`) that the leak gate reads as
mobile numbers. Then, on the same system:

- the approval's answer, `kcdata catalog show` and the resource page name the block (rule,
  column, cells); a reviewer's exception for that column and rule lets it through;
- a rules change followed by `kcdata revalidate` reaches the portal with no other command;
- a real mobile number in another column is still blocked, and `submit --wait` says so;
- a changed sensitivity is not covered by the old approval: off the portal until a new review.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests
from ckanapi import NotAuthorized, NotFound, RemoteCKAN

from common.codes import uscc_check_char
from common.settings import PROJECT_ROOT

CODE = "KC-SJSC-001"
TABLE = "provincial_enterprise_registrations"
DEPARTMENT = "provincial_market_regulation"
ACCOUNT = "sjsc_reviewer"
PASSWORD = "a long enough reviewer passphrase"
CONTACT = "registration@provincial-market.example.gov.cn"
ENTRY = f"""\
code: {CODE}
table: {TABLE}
name: 省级企业登记信息（公开样例）
name_en: Provincial enterprise registrations (public sample)
category: 基础信息资源/法人单位/市场主体/企业登记
provider: {DEPARTMENT}
summary: 省市场监督管理局公开的企业登记信息，含统一社会信用代码、注册资本、经营范围和住所。
format: 电子表格
update_cycle: 每年
published_at: 2026-12-01
grade: 一般
share: {{type: 无条件共享}}
open: {{type: 无条件开放}}
key: [uscc]
max_bad_share: 0.2
missing_values: ["N/A", ""]
source: {{kind: file_drop, format: csv}}
items:
  - {{name: 统一社会信用代码, code: uscc, type: C, sensitivity: public, required: true, unique: true, pattern: uscc}}
  - {{name: 企业名称, code: enterprise_name, type: C, sensitivity: public, required: true}}
  - {{name: 法定代表人, code: legal_representative, type: C, sensitivity: personal, treatment: {{mask: name}}}}
  - {{name: 注册资本（万元）, code: registered_capital, type: N, sensitivity: public, unit: 万元, range: [0, 10000000],
     aliases: [注册资本]}}
  - {{name: 经营范围, code: business_scope, type: C, sensitivity: public}}
  - {{name: 住所, code: address, type: C, sensitivity: public}}
"""


def _department() -> str:
    code = "11440000MB0C1234" + "5"
    return (f"{DEPARTMENT}:\n  name: 省市场监督管理局（公开样例）\n  name_en: Provincial market regulation (public sample)\n"
            f'  code: "{code}{uscc_check_char(code)}"\n  contact: {{name: 登记科, email: {CONTACT}}}\n')


def _uscc(n: int) -> str:
    first = f"914400007{n:08d}"
    return first + uscc_check_char(first)


def _registrations(path: Path, rows: int, start: int, phone_in_address: bool = False) -> Path:
    """Rows as the province publishes them; one in ten has a capital in US dollars (quarantined)."""
    lines = ["统一社会信用代码,企业名称,法定代表人,注册资本,经营范围,住所"]
    for n in range(start, start + rows):
        capital = "200(万美元)" if n % 10 == 3 else ("N/A" if n % 10 == 5 else f"{100 + n}.5")
        scope = (f'"一般项目：技术服务；\n用地：惠府国用（2009）第130211{n:05d}号"' if n % 4 == 0
                 else "一般项目：软件开发")
        address = f"广州市黄埔区知识大道{n}号"
        if phone_in_address and n == start:
            address += " 联系电话13912345678"
        lines.append(f"{_uscc(n)},知识城样例企业{n}有限公司,{'张王李赵'[n % 4]}{'伟芳娜洋'[n % 3]},{capital},{scope},{address}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


ADDING_A_DATASET = PROJECT_ROOT / "docs" / "departments" / "adding-a-dataset.md"


def _page_block(marker: str) -> list[str]:
    text = ADDING_A_DATASET.read_text(encoding="utf-8")
    block = re.search(rf"<!-- {marker}:start -->\n```bash\n(.*?)```\n<!-- {marker}:end -->", text, re.S)
    assert block, f"{ADDING_A_DATASET.name} lacks the {marker} block"
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.startswith("kcdata ")]


def _kcdata(system, command: str, values: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    for name, value in values.items():
        command = command.replace(f"<{name}>", value)
    assert "<" not in command, f"a placeholder is left in {command!r}"
    import shlex

    args = shlex.split(command)
    done = subprocess.run([str(Path(sys.executable).parent / args[0]), *args[1:]], env={**os.environ, **system.env},
                          input=stdin, capture_output=True, text=True, timeout=900)
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


def _wait(what: str, check, timeout: float = 300.0, every: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not after {timeout:.0f} s")


@pytest.fixture
def new_department(system, portal):
    """The department and its entry in the running system's catalog folder; gone again after."""
    catalog = system.catalog_dir
    departments = catalog / "departments.yaml"
    before = departments.read_text(encoding="utf-8")
    departments.write_text(before + _department(), encoding="utf-8")
    (catalog / DEPARTMENT).mkdir()
    entry = catalog / DEPARTMENT / f"{TABLE}.yaml"
    entry.write_text(ENTRY, encoding="utf-8")
    url, token = portal
    admin = RemoteCKAN(url, apikey=token)
    try:
        yield entry
    finally:
        entry.unlink()
        (catalog / DEPARTMENT).rmdir()
        departments.write_text(before, encoding="utf-8")
        for action, name in (("dataset_purge", CODE.lower()), ("organization_purge", DEPARTMENT.replace("_", "-"))):
            try:
                admin.call_action(action, {"id": name})
            except NotFound:
                pass


def _dataset(portal) -> dict | None:
    """The dataset as the public sees it (None: not on the portal)."""
    try:
        return RemoteCKAN(portal[0]).action.package_show(id=CODE.lower())
    except (NotFound, NotAuthorized):
        return None


def _published_version(portal, store, version: int):
    """The dataset once the publish of this catalog version finished (its publication recorded,
    which the publisher does last) and the public sees it."""
    def check():
        publication = store.publication(CODE)
        if publication is None or publication.version != version or publication.state != "published":
            return None
        ds = _dataset(portal)
        return ds if ds and ds.get("catalog_version") == str(version) else None
    return check


def _store(system):
    from catalog.store import open_store

    return open_store(system.paths().catalog_url)


def test_a_department_dataset_reaches_the_portal_by_the_readme_and_every_block_is_told(system, portal, new_department, tmp_path):
    from catalog import gate_records

    values = {"file": str(_registrations(tmp_path / "registrations_2024.csv", 40, 1)), "code": CODE,
              "account": ACCOUNT, "department": DEPARTMENT}
    steps = _page_block("add-dataset")
    assert [s.split()[1] for s in steps] == ["catalog", "submit", "users", "catalog", "deliveries"]

    # 1. the page's commands, as written
    checked = _kcdata(system, steps[0], values)
    assert checked.returncode == 0 and re.search(r"catalog ok: \d+ entries of \d+ departments", checked.stdout), checked.stdout
    submitted = _kcdata(system, steps[1], values)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    assert "validated" in submitted.stdout and "not on the portal" in submitted.stdout
    assert "not approved by a department reviewer" in submitted.stdout
    store = _store(system)
    v1 = store.latest_version(CODE)
    assert (v1.rows_in, v1.rows_accepted, v1.rows_quarantined) == (40, 36, 4)  # the 4 capitals in US dollars
    assert _kcdata(system, steps[2], values, stdin=PASSWORD + "\n").returncode == 0

    approved = _kcdata(system, steps[3], values)
    assert approved.returncode == 0, approved.stdout
    assert "the gate still keeps it off the portal" in approved.stdout
    assert f"{CODE}: leak gate: open view column business_scope: mobile in 10 cell(s)" in approved.stdout
    assert "kcdata catalog allow" in approved.stdout
    blocked = _wait("the publish run's block recorded", lambda: (
        r if (r := gate_records.result(store, CODE)) and r.version == v1.version and r.action == "blocked" else None))
    assert any("data.csv column 经营范围 (business_scope): mobile in 10 cell(s)" in r for r in blocked.reasons), blocked.reasons
    shown = _kcdata(system, f"kcdata catalog show {CODE}", values).stdout
    assert "not published" in shown and "business_scope: mobile in 10 cell(s)" in shown
    ((to, mail),) = system.smtp.wait_for(lambda to, m: CODE in m["Subject"] and "leak gate" in m["Subject"])
    assert CONTACT in to and "business_scope): mobile in 10 cell(s)" in mail.get_content()
    assert f"kcdata catalog allow {CODE}" in mail.get_content()
    page = requests.get(f"http://127.0.0.1:8000/resource/{CODE}", timeout=60).text
    assert "leak gate" in page and "business_scope: mobile in 10 cell(s)" in page
    where = _kcdata(system, steps[4], values).stdout
    assert "not on the portal" in where and "leak gate" in where
    assert _dataset(portal) is None

    # 2. the reviewer's exception, as the page writes it: the next publish run puts it on the portal
    (allow,) = _page_block("add-dataset-exception")
    values |= {"item": "business_scope", "rule": "mobile", "what the values are": "土地证号，非手机号",
               "YYYY-MM-DD": (date.today() + timedelta(days=180)).isoformat()}
    allowed = _kcdata(system, allow, values)
    assert allowed.returncode == 0 and "publish__portal run" in allowed.stdout, allowed.stdout
    dataset = _wait("v1 on the portal", _published_version(portal, store, v1.version))
    assert dataset["num_resources"] >= 4
    assert "on the portal" in _kcdata(system, steps[4], values).stdout
    from catalog.audit import events

    assert [e.actor for e in events(store, resource_code=CODE, action="gate.exception")] == [ACCOUNT]

    # 3. a rules change: `kcdata revalidate` alone carries the new version to the portal
    new_department.write_text(ENTRY.replace("range: [0, 10000000]", "range: [0, 5000000]"), encoding="utf-8")
    revalidated = _kcdata(system, f"kcdata revalidate {CODE}", values)
    assert revalidated.returncode == 0 and "chain__deliveries run" in revalidated.stdout, revalidated.stdout
    v2 = _wait("version 2", lambda: (v if (v := store.latest_version(CODE)).version > v1.version else None))
    assert v2.fingerprint == v1.fingerprint and v2.rules != v1.rules
    _wait("v2 on the portal with no command by hand", _published_version(portal, store, v2.version), timeout=420)

    # 4. a real mobile number in another column is still blocked; the portal keeps v2; --wait says so
    phone = _registrations(tmp_path / "registrations_2025.csv", 40, 101, phone_in_address=True)
    waited = _kcdata(system, f"kcdata submit {phone} -r {CODE} --wait", values)
    assert waited.returncode == 1, waited.stdout
    assert "column address: mobile in 1 cell(s)" in waited.stdout and "not on the portal" in waited.stdout
    assert "business_scope" not in waited.stdout.split("not on the portal")[-1]  # the exception still holds there
    assert _dataset(portal)["catalog_version"] == str(v2.version)

    # 5. a changed sensitivity needs a new review: off the portal, and the department is told what changed
    new_department.write_text(ENTRY.replace("{name: 住所, code: address, type: C, sensitivity: public}",
                                            "{name: 住所, code: address, type: C, sensitivity: internal}"), encoding="utf-8")
    assert _kcdata(system, f"kcdata revalidate {CODE}", values).returncode == 0
    _wait("the dataset retracted", lambda: _dataset(portal) is None, timeout=420)
    shown = _kcdata(system, f"kcdata catalog show {CODE}", values).stdout
    assert "the entry changed since the approval" in shown and "sensitivity of address public → internal" in shown
    again = _kcdata(system, f"kcdata catalog approve {CODE} --by {ACCOUNT}", values)
    assert again.returncode == 0 and "still keeps it off" not in again.stdout, again.stdout
    v4 = store.latest_version(CODE)
    dataset = _wait("the new terms on the portal after a new review", _published_version(portal, store, v4.version))
    assert "address" not in {f["id"] for f in RemoteCKAN(portal[0]).action.datastore_search(
        resource_id=next(r["id"] for r in dataset["resources"] if r["name"] == "data.csv"), limit=0)["fields"]}
