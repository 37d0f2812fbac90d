"""The typed rows GX validates live in a scratch DuckDB file, not in memory, and the file goes away.

A table in DuckDB's in-memory database cannot leave memory, so 10M typed rows of a wide resource
took the validate stage past 4 GiB; in a database file DuckDB evicts what exceeds its memory
limit (expectations/validate.py, `_scratch_database`). What is checked here: during validation the
typed table is in a file under the lake's `.validate` folder, GX reads it there, nothing of it is
left afterwards, and a crashed run's scratch folder is cleaned up by the next validation.
"""
from __future__ import annotations

import fcntl
import os

import expectations.validate as validate
from catalog.entries import get_resource
from flow.pipeline import land_and_validate
from samples.generate import generate_resource

ENTERPRISES = "KC-SCJG-001"  # personal columns: the raw batch is read through the decrypting dataset


def test_typed_rows_are_in_a_scratch_file_removed_afterwards(lake, tmp_path, monkeypatch):
    seen: dict = {}
    run_suite = validate._run_suite_sql

    def spying(con, resource, *args):
        seen["tables"] = con.execute(
            "SELECT t.database_name, d.path FROM duckdb_tables() t JOIN duckdb_databases() d USING (database_name) "
            "WHERE t.table_name = ?", [f"typed_{resource.table}"]
        ).fetchall()
        return run_suite(con, resource, *args)

    monkeypatch.setattr(validate, "_run_suite_sql", spying)
    resource = get_resource(ENTERPRISES)
    sample = generate_resource(resource, tmp_path / "delivery", rows=300, bad_share=0.05, seed=5)

    outcome = land_and_validate(resource, sample.path).outcome

    ((database, path),) = seen["tables"]
    assert database == f"kcdata_scratch_{resource.table}"
    assert path and os.path.dirname(os.path.dirname(path)) == str(lake.local_state / validate.SCRATCH_DIR)
    assert outcome.accepted + outcome.quarantined == 300 and outcome.quarantined > 0
    assert list((lake.local_state / validate.SCRATCH_DIR).iterdir()) == []  # detached and deleted


def test_a_dead_runs_scratch_folder_is_swept_and_a_running_ones_kept(lake, tmp_path):
    root = lake.local_state / validate.SCRATCH_DIR
    dead, running, unlocked = root / "dead", root / "running", root / "starting"
    for folder in (dead, running, unlocked):
        folder.mkdir(parents=True)
    (dead / validate.SCRATCH_LOCK).touch()
    (dead / "typed.duckdb").write_bytes(b"left by a crash")
    (running / validate.SCRATCH_LOCK).touch()
    fd = os.open(running / validate.SCRATCH_LOCK, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        validate._sweep_scratch(root)
    finally:
        os.close(fd)
    assert not dead.exists()
    assert running.exists() and unlocked.exists()


def test_validation_completes_under_a_small_memory_limit(lake, tmp_path, monkeypatch):
    monkeypatch.setenv("KCDATA_VALIDATE_MEMORY_LIMIT", "100MB")  # the typed rows are evicted to their file
    resource = get_resource(ENTERPRISES)
    sample = generate_resource(resource, tmp_path / "delivery", rows=2000, bad_share=0.02, seed=7)
    outcome = land_and_validate(resource, sample.path).outcome
    assert outcome.accepted + outcome.quarantined == 2000
