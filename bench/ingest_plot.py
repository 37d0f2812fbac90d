"""Draw the ingest benchmark: seconds against rows, log-log, one panel per resource, one line per
stage plus the total and the floor, so a reader sees which stage grows like the data (slope 1)
and which is a fixed cost (flat)."""
from __future__ import annotations

from pathlib import Path

STYLE = {"land": "o-", "validate": "s-", "transform": "^-", "total": "D-", "floor": "k--"}


def draw(results: dict, png: Path) -> Path:
    """Write the PNG of `results` (the benchmark's JSON document) to `png`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    resources = results["resources"]
    fig, axes = plt.subplots(1, len(resources), figsize=(6 * len(resources), 4.6), squeeze=False)
    for ax, (code, entry) in zip(axes[0], resources.items(), strict=True):
        runs = sorted(entry["runs"], key=lambda r: r["rows"])
        rows = [r["rows"] for r in runs]
        for line in [*entry.get("stages", []), "total", "floor"]:
            seconds = [_seconds(r, line) for r in runs]
            if all(s is not None for s in seconds):
                ax.plot(rows, seconds, STYLE.get(line, "x-"), label=line)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rows")
        ax.set_ylabel("wall seconds")
        ax.set_title(f"{code} {entry.get('name_en', '')} ({entry.get('encoding', '')})", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"kcdata ingest vs plain DuckDB floor — {results.get('rev', '')} {results.get('date', '')}", fontsize=11)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


def _seconds(run: dict, line: str) -> float | None:
    if line == "floor":
        return run["floor"]["wall_s"]
    if line == "total":
        return run.get("total_s")
    stage = run["stages"].get(line)
    return stage["wall_s"] if stage else None
