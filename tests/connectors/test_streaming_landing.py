"""Landing streams: a large GB18030 CSV lands with memory bounded by the chunk, not the file.

Each landing runs in its own process so its peak memory (RSS) is its own. The file is the
enterprise registrations sample (GB18030, wide, personal items encrypted in the raw batch),
repeated to about 160 MB; the chunk is set to 1 MiB, so a reader that held the file, or Arrow's
default read-ahead of 32 blocks of 8 MB, would grow by far more than the bound asserted.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from catalog.entries import get_resource
from samples.generate import generate_resource

ENTERPRISES = get_resource("KC-SCJG-001")
TEMPLATE_ROWS = 20_000
TARGET_BYTES = 160 << 20

LAND = """
    import json, os, resource, sys, pathlib
    from catalog.entries import get_resource
    from common.problems import Refusal
    from connectors.file_drop import land_file
    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    res = get_resource("KC-SCJG-001")
    before = peak()
    try:
        b = land_file(res, pathlib.Path(sys.argv[1]))
        print(json.dumps({"rows": b.rows, "careful": b.careful, "encoding": b.encoding,
                          "before": before, "after": peak()}))
    except Refusal as exc:
        print(json.dumps({"refused": exc.code}))
        raise SystemExit(3)
"""


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> tuple[Path, int]:
    """About 160 MB of GB18030 enterprise registrations (the sample's rows, repeated)."""
    folder = tmp_path_factory.mktemp("big")
    sample = generate_resource(ENTERPRISES, folder / "inbox", rows=TEMPLATE_ROWS, bad_share=0.0)
    header, body = sample.path.read_bytes().split(b"\n", 1)
    copies = TARGET_BYTES // len(body) + 1
    path = folder / "enterprises_big.csv"
    with path.open("wb") as fh:
        fh.write(header + b"\n")
        for _ in range(copies):
            fh.write(body)
    return path, copies * TEMPLATE_ROWS


def _land(path: Path, lake: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(LAND), str(path)],
        env={**os.environ, "KCDATA_LAKE": str(lake), **env}, capture_output=True, text=True, timeout=180,
    )


def test_a_large_gb18030_file_lands_within_a_few_chunks_of_memory(big_csv, tmp_path):
    path, rows = big_csv
    size = path.stat().st_size
    done = _land(path, tmp_path / "lake", KCDATA_LAND_CHUNK_BYTES=str(1 << 20))
    assert done.returncode == 0, done.stderr[-3000:]
    landed = json.loads(done.stdout.strip().splitlines()[-1])
    assert landed["rows"] == rows and not landed["careful"] and landed["encoding"] == "gb18030"
    growth = landed["after"] - landed["before"]
    assert growth < size / 4, f"landing grew by {growth >> 20} MiB for a {size >> 20} MiB file"


def test_a_refused_gb18030_file_ends_the_process_cleanly(big_csv, tmp_path):
    """A file refused after its reader was set up (here: a required column missing) fails with
    its refusal; the reader's transcoding thread must not abort or hang the exiting process."""
    path, _ = big_csv
    broken = tmp_path / "no_code.csv"
    with path.open("rb") as src, broken.open("wb") as out:
        header = src.readline()
        out.write(header.replace("统一社会信用代码".encode("gb18030"), "未知列".encode("gb18030"), 1))
        while block := src.read(8 << 20):
            out.write(block)
    done = _land(broken, tmp_path / "lake")
    assert done.returncode == 3, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"refused": "missing-required-column"}
