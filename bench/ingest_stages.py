"""Run one ingest stage (or the floor) in a fresh Python process and measure it from outside.

Each stage pays what it pays in an Airflow task: interpreter start, imports, work. Wall time is
taken around the child, peak RSS from `os.wait4`; inside, a prelude times every outermost import
(`import`, `from ... import`, `importlib.import_module`, lazy ones inside functions included), so
the fixed cost of imports is reported without a second run. The child's last stdout line is a
JSON object with its own figures.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PRELUDE = """
import builtins as _b, importlib as _il, time as _t
_IMPORTS = [0.0, 0]
def _timed(real):
    def wrapper(*args, **kwargs):
        if _IMPORTS[1]:
            return real(*args, **kwargs)
        _IMPORTS[1] = 1
        started = _t.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            _IMPORTS[0] += _t.perf_counter() - started
            _IMPORTS[1] = 0
    return wrapper
_b.__import__ = _timed(_b.__import__)
_il.import_module = _timed(_il.import_module)
"""

REPORT_MARK = "@@kcdata-bench@@"  # the report's line, whatever else (a progress bar) the stage printed
REPORT = f"""
import json as _json
print("\\n{REPORT_MARK}" + _json.dumps({{"imports": _IMPORTS[0], **RESULT}}))
"""

STAGES = {
    "land": """
        from catalog.entries import get_resource
        from connectors.file_drop import land_file
        import json, pathlib
        b = land_file(get_resource(CODE), pathlib.Path(FILE))
        pathlib.Path(OUT, "landed.json").write_text(json.dumps(b.to_dict()))
        RESULT = {"rows": b.rows, "note": f"{b.rows:,} rows landed ({b.encoding})"}
    """,
    "validate": """
        from catalog.entries import get_resource
        from connectors.file_drop import LandedBatch
        from flow.pipeline import validate_landed
        import json, pathlib
        b = LandedBatch(**json.loads(pathlib.Path(OUT, "landed.json").read_text()))
        r = validate_landed(get_resource(CODE), [b])[0]
        RESULT = {"accepted": r.outcome.accepted, "quarantined": r.outcome.quarantined,
                  "note": f"{r.outcome.accepted:,} accepted, {r.outcome.quarantined:,} quarantined"}
    """,
    "transform": """
        from catalog.entries import get_resource
        from flow.pipeline import transform
        r = transform(tables=[get_resource(CODE).table])
        RESULT = {"models": r.rows, "note": ", ".join(f"{k} {v:,}" for k, v in r.rows.items())}
    """,
}

FLOOR = """
    from bench.ingest_floor import run_floor
    RESULT = run_floor(CODE, FILE, OUT)
    RESULT["note"] = f"{RESULT['accepted']:,} accepted, {RESULT['quarantined']:,} quarantined; " + ", ".join(RESULT["marts"])
"""

# dbt's parse, alone, on the project the transform stage assembled: full, then partial (the
# state the transform left behind). Timed inside the child, after dbt is imported.
DBT_PARSE = """
    import pathlib, time
    from common.settings import get_paths
    from dbt.cli.main import dbtRunner
    paths = get_paths()
    project = paths.dbt_dir / "project"
    args = ["parse", "--project-dir", str(project), "--profiles-dir", str(project), "--target-path",
            str(paths.dbt_dir / "bench-target"), "--log-path", str(paths.dbt_dir / "bench-logs"), "--no-use-colors",
            "--no-send-anonymous-usage-stats"]
    RESULT = {}
    for label, extra in (("full", ["--no-partial-parse"]), ("partial", ["--partial-parse"])):
        started = time.perf_counter()
        res = dbtRunner().invoke(args + extra)
        RESULT[label] = time.perf_counter() - started
        if not res.success:
            raise SystemExit(f"dbt parse failed: {res.exception}")
    RESULT["note"] = "dbt parse"
"""


@dataclass
class Measured:
    """One process: wall seconds, peak RSS in MiB, and what it reported about itself."""

    wall: float
    rss_mib: float
    report: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"wall_s": round(self.wall, 3), "peak_rss_mib": round(self.rss_mib, 1), **self.report}


class StageFailed(RuntimeError):
    """A stage process exited with an error (its stderr's tail is the message)."""


def run_code(code: str, env: dict[str, str], params: dict[str, str]) -> Measured:
    """Run `code` in a fresh interpreter with `params` as globals; measure it from outside."""
    header = "".join(f"{k} = {v!r}\n" for k, v in params.items())
    program = PRELUDE + header + textwrap.dedent(code) + REPORT
    env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))}
    started = time.perf_counter()
    with open(os.devnull, "wb") as devnull, _tempfile() as out, _tempfile() as err:
        proc = subprocess.Popen([sys.executable, "-c", program], env=env, cwd=ROOT, stdout=out, stderr=err, stdin=devnull)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise StageFailed(stderr[-4000:] or stdout[-4000:])
    reports = [line.split(REPORT_MARK, 1)[1] for line in stdout.splitlines() if REPORT_MARK in line]
    return Measured(wall, usage.ru_maxrss / 1024, json.loads(reports[-1]) if reports else {})


def _tempfile():
    import tempfile

    return tempfile.TemporaryFile()
