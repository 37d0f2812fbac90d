"""The data-resource catalog: entries (YAML under resources/) and the state store of versions."""
