"""A leak-gate false positive is answered by a reviewed exception, never silently: the gate counts
cells, an exception lets one rule pass on one column only, until it expires or is revoked, and
only the providing department's reviewer (or a bureau admin) may record it, in the audit log.
An approval covers later versions only under the publication terms it was given for."""
from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog import gate_records
from catalog.accounts import create_account
from catalog.audit import events
from catalog.entries import get_resource
from catalog.model import Sensitivity
from catalog.store import open_store
from portal.leak_gate import scan_files
from portal.publisher import allowed_hits, gate_decision

ENTERPRISES = "KC-SCJG-001"
PASSWORD = "correct horse battery staple"
LAND_CERTIFICATES = "惠府国用（2009）第13021120006号；惠府国用（2011）第13021120007号"  # two mobile-shaped runs, one cell


@pytest.fixture
def store(lake):
    return open_store(lake.catalog_url)


@pytest.fixture
def people(store):
    reviewer = create_account(store, "li", PASSWORD, "department_reviewer", "market_supervision", "李科长")
    other = create_account(store, "zhao", PASSWORD, "department_reviewer", "health", "赵科长")
    user = create_account(store, "qian", PASSWORD, "department_user", "market_supervision", "钱")
    return reviewer, other, user


def _view(tmp_path, **columns):
    path = tmp_path / "view.parquet"
    pq.write_table(pa.table(columns), path)
    return path


def test_the_gate_counts_cells_and_an_exception_allows_one_rule_on_one_column(tmp_path, store, people):
    reviewer, *_ = people
    resource = get_resource(ENTERPRISES)
    view = _view(tmp_path, enterprise_name=[LAND_CERTIFICATES, "某某公司", LAND_CERTIFICATES],
                 street=["九佛街道 联系13912345678", "龙湖街道", "新龙镇"])
    hits = scan_files(resource, None, [("open view", view, "Parquet")])
    assert [h.text(ENTERPRISES) for h in hits] == [
        "KC-SCJG-001: leak gate: open view column enterprise_name: mobile in 2 cell(s)",  # 4 numbers, 2 cells
        "KC-SCJG-001: leak gate: open view column street: mobile in 1 cell(s)",
    ]

    row = gate_records.add_exception(store, resource, "enterprise_name", "mobile", "土地证号，非手机号",
                                     datetime.now() + timedelta(days=90), reviewer, reviewer.actor("test"))
    blocking, waived = allowed_hits(store, resource, hits)
    assert [(h.item, h.rule) for h in blocking] == [("street", "mobile")]  # the same rule elsewhere still blocks
    assert waived == [{"file": "open view", "column": "enterprise_name", "rule": "mobile", "cells": 2, "exception": row.id}]
    (event,) = events(store, resource_code=ENTERPRISES, action="gate.exception")
    assert (event.actor, event.detail["column"], event.detail["rule"]) == ("li", "enterprise_name", "mobile")

    gate_records.revoke_exception(store, resource, row.id, reviewer, reviewer.actor("test"))
    blocking, waived = allowed_hits(store, resource, hits)
    assert len(blocking) == 2 and waived == []
    assert "revoked" in gate_records.status_label(gate_records.exceptions(store, ENTERPRISES)[0])


@pytest.mark.parametrize(("who", "column", "rule", "days", "says"), [
    ("zhao", "enterprise_name", "mobile", 30, "only a reviewer of market_supervision"),
    ("qian", "enterprise_name", "mobile", 30, "only a reviewer of market_supervision"),
    ("li", "legal_representative", "mobile", 30, "personal data is never allowed"),
    ("li", "no_such_item", "mobile", 30, "has no item 'no_such_item'"),
    ("li", "enterprise_name", "phone", 30, "unknown leak-gate rule 'phone'"),
    ("li", "enterprise_name", "mobile", -1, "is in the past"),
    ("li", "enterprise_name", "mobile", 400, "at most 366 days"),
])
def test_an_exception_that_does_not_fit_the_rules_is_refused_with_why(store, people, who, column, rule, days, says):
    account = next(p for p in people if p.username == who)
    with pytest.raises(gate_records.ExceptionRefused, match=says):
        gate_records.add_exception(store, get_resource(ENTERPRISES), column, rule, "理由",
                                   datetime.now() + timedelta(days=days), account, account.actor("test"))
    assert gate_records.exceptions(store, ENTERPRISES) == []


def test_an_expired_exception_allows_nothing(store, people):
    reviewer, *_ = people
    resource = get_resource(ENTERPRISES)
    row = gate_records.add_exception(store, resource, "enterprise_name", "mobile", "土地证号",
                                     datetime.now() + timedelta(days=1), reviewer, reviewer.actor("test"))
    assert gate_records.allowed(store, ENTERPRISES) == {("enterprise_name", "mobile"): row.id}
    assert gate_records.allowed(store, ENTERPRISES, now=datetime.now() + timedelta(days=2)) == {}


def _with_sensitivity(resource, code: str, sensitivity: Sensitivity):
    items = [i.model_copy(update={"sensitivity": sensitivity}) if i.code == code else i for i in resource.items]
    return resource.model_copy(update={"items": items})


def test_an_approval_covers_the_terms_it_was_given_for_not_a_changed_sensitivity(store):
    from datetime import datetime as dt

    from catalog.tables import VersionRow

    resource = get_resource(ENTERPRISES)
    store.sync_resources([resource])
    with store.session() as s:  # a version that passed, as validation records it
        s.add(VersionRow(resource_code=ENTERPRISES, version=1, source_file="a.csv", fingerprint="ab" * 32, rows_in=1,
                         rows_accepted=1, rows_quarantined=0, schema=[], validation_passed=True, gx_success=True,
                         problems_by_rule={}, raw_path="", validated_path="", quarantine_path="", landed_at=dt.now(),
                         validated_at=dt.now(), rules="r1"))
    store.record_approval(resource, "approve", "李科长 (li)")
    assert gate_decision(store, resource)[0].reasons == []

    changed = _with_sensitivity(resource, "street", Sensitivity.internal)
    reasons = gate_decision(store, changed)[0].reasons
    assert len(reasons) == 1 and "the entry changed since the approval" in reasons[0]
    assert "sensitivity of street public → internal" in reasons[0] and "treatment of street keep → drop" in reasons[0]

    store.record_approval(changed, "approve", "李科长 (li)")  # a new review covers the new terms
    assert gate_decision(store, changed)[0].reasons == []
