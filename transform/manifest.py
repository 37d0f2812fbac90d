"""What dbt's manifest says about the marts: which validated source tables each one reads. The flow
records curated lineage from it (validated/<table> -> curated/<mart>)."""
from __future__ import annotations

import json
from pathlib import Path


def mart_sources(manifest_path: Path) -> dict[str, set[str]]:
    """For each model, the validated source tables it reads, following refs through staging."""
    manifest = json.loads(manifest_path.read_text())
    nodes = manifest["nodes"]
    sources = {k: v["name"] for k, v in manifest.get("sources", {}).items()}

    def walk(node_id: str, seen: set[str]) -> set[str]:
        if node_id in sources:
            return {sources[node_id]}
        if node_id in seen or node_id not in nodes:
            return set()
        seen.add(node_id)
        found: set[str] = set()
        for parent in nodes[node_id].get("depends_on", {}).get("nodes", []):
            found |= walk(parent, seen)
        return found

    return {v["name"]: walk(k, set()) for k, v in nodes.items() if v.get("resource_type") == "model"}
