"""GX validation results shared through the lake, for a lake on object storage.

With a local lake the GX context lives in the lake (`lake/gx`) and every process sees every
result. With an S3 lake each worker keeps its GX context in its own work folder, so the results a
worker stored would stay on its machine, and Data Docs rendered elsewhere would miss them. So the
results of every validation run, and the suites they ran, are copied into the lake
(`<lake>/gx/validations/...`, `<lake>/gx/expectations/...`: the same relative paths as in GX's
stores; a result's path is unique and a suite's content is fixed by its name, so workers never
overwrite one another), and a full Data Docs render (`kcdata docs`) first fetches what its context
lacks. Data Docs are rendered on the machine that asks for them, from everything in the lake.
"""
from __future__ import annotations

from pathlib import Path

from common.settings import Paths

# the shared stores: name in the lake -> folder in GX's file context
STORES = {"validations": Path("uncommitted") / "validations", "expectations": Path("expectations")}


def _local(paths: Paths, store: str) -> Path:
    return paths.gx_root / "gx" / STORES[store]


def _shared(paths: Paths, store: str) -> str:
    """The store's place in the lake: `s3://<bucket>/<prefix>/gx/<store>`, for writing and listing."""
    return str(paths.lake / "gx" / store).rstrip("/")


def results_to_share(paths: Paths, run_names: list[str]) -> dict[tuple[str, str], bytes]:
    """The stored results of the runs named, and the suites they ran, read from the local context
    (under the GX lock, which its writers hold): (store, relative path) -> content. Nothing for a
    local lake."""
    if not paths.remote:
        return {}
    results, suites = _local(paths, "validations"), _local(paths, "expectations")
    files: dict[tuple[str, str], bytes] = {}
    for run in run_names:
        for result in results.glob(f"**/{run}/**/*.json"):
            relative = result.relative_to(results)
            files["validations", relative.as_posix()] = result.read_bytes()
            # validations/<suite name split at dots>/<run>/<time>/<batch>.json -> expectations/<suite>.json
            suite = suites.joinpath(*relative.parts[:relative.parts.index(run)]).with_suffix(".json")
            if suite.is_file():
                files["expectations", suite.relative_to(suites).as_posix()] = suite.read_bytes()
    return files


def share_results(paths: Paths, files: dict[tuple[str, str], bytes]) -> int:
    """Put what `results_to_share` read into the lake (no lock needed: each path is written once,
    by a conditional put); how many objects were new there."""
    from common.lake_store import put_if_absent

    return sum(put_if_absent(f"{_shared(paths, store)}/{key}", data) for (store, key), data in sorted(files.items()))


def gather_results(paths: Paths) -> int:
    """Fetch into the local context every shared result and suite it lacks; how many were fetched."""
    from common.lake_store import s3_filesystem

    if not paths.remote:
        return 0
    fs = s3_filesystem()
    fetched = 0
    for store in STORES:
        prefix, local = _shared(paths, store).removeprefix("s3://"), _local(paths, store)  # find() drops the scheme
        for key in fs.find(prefix):
            target = local / key[len(prefix):].lstrip("/")
            if key.endswith(".json") and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(f".{target.name}.part")
                fs.get_file(key, str(partial))
                partial.replace(target)  # GX never lists a half-fetched file
                fetched += 1
    return fetched
