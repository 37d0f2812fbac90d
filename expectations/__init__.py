"""Validation: a Great Expectations suite per resource, derived from its catalog items."""
