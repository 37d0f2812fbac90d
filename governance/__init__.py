"""Governance: what of a resource may leave the bureau, and in what form (the open view)."""
