"""No traceback ever reaches the user: every CLI command, given every kind of bad input, answers
with a message and an exit code (1 for our errors and refusals, 2 for anything unexpected)."""
from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from kcdata.cli import app


@pytest.fixture
def bad_inputs(lake, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "garbage.csv").write_bytes(os.urandom(2048))
    (folder / "empty.json").write_text("", encoding="utf-8")
    (folder / "dir.csv").mkdir()
    os.symlink("/etc/passwd", folder / "passwd.csv")
    os.mkfifo(folder / "fifo.csv")
    return folder


COMMANDS = [
    ["ingest", "KC-NOPE-001"],
    ["ingest", "KC-SCJG-001", "{bad}/garbage.csv"],
    ["ingest", "KC-SCJG-001", "{bad}/missing.csv"],
    ["ingest", "KC-SCJG-001", "{bad}/dir.csv"],
    ["ingest", "KC-SCJG-001", "{bad}/passwd.csv"],
    ["ingest", "KC-SCJG-001", "{bad}/fifo.csv"],
    ["ingest", "KC-WSJK-001", "{bad}/empty.json"],
    ["ingest", "KC-SCJG-001"],
    ["revalidate", "KC-NOPE-001"],
    ["open-view"],
    ["publish", "KC-NOPE-001"],
    ["sample", "--only", "KC-NOPE-001"],
    ["sample", "--only", "KC-YJGL-001", "--rows", "2000000"],
    ["sample", "--bad-share", "7"],
    ["catalog", "show", "KC-NOPE-001"],
    ["catalog", "approve", "KC-NOPE-001", "--by", "x"],
    ["catalog", "approve", "KC-WSJK-001", "--by", " "],
    ["catalog", "withdraw", "KC-NOPE-001", "--by", "x"],
    ["problems"],
    ["catalog", "list"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_every_command_answers_without_a_traceback(bad_inputs, args):
    argv = [a.replace("{bad}", str(bad_inputs)) for a in args]
    result = CliRunner().invoke(app, argv)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1), result.output  # 2 would be an unexpected error: none is expected here
    if result.exit_code == 1:
        assert "error:" in result.output or "refused:" in result.output
    assert os.path.exists("/etc/passwd") and (bad_inputs / "passwd.csv").is_symlink()  # never followed, never moved
