"""The e-mail a department gets when the leak gate keeps its approved version off the portal:
each hit by file, column, rule and cells (never a value), and what to do about it."""
from __future__ import annotations

from catalog.entries import get_resource, load_bureau
from notify.messages import blocked_message


def test_a_block_is_mailed_with_its_hits_and_the_ways_out():
    resource = get_resource("KC-SCJG-001")
    reasons = ["KC-SCJG-001: leak gate: data.csv column 企业名称 (enterprise_name): mobile in 4 cell(s)"]
    message = blocked_message(resource, 3, reasons, load_bureau(), "https://catalog.example.gov.cn")
    assert message.kind == "blocked" and "leak gate" in message.subject and "KC-SCJG-001" in message.subject
    assert message.to == [resource.provider.contact.email]
    assert "- data.csv column 企业名称 (enterprise_name): mobile in 4 cell(s)" in message.body
    assert "第 3 版" in message.body and "Version 3 of KC-SCJG-001" in message.body
    assert "kcdata catalog allow KC-SCJG-001" in message.body and "/resource/KC-SCJG-001" in message.body
