"""The staging models generated from the catalog follow the project's SQL style.

`sqlfluff lint dbt/` in the test command checks the SQL people write; the staging models are
written by transform/project.py into the lake's scratch project, never into dbt/, so their style
is checked here, on the generator's output, with the same configuration (.sqlfluff at the root).
"""
from __future__ import annotations

import pytest
from sqlfluff.core import FluffConfig, Linter

from catalog.entries import load_catalog
from catalog.model import Resource
from common.settings import PROJECT_ROOT, get_paths
from transform.project import staging_model, staging_sql


@pytest.fixture(scope="module")
def linter() -> Linter:
    return Linter(config=FluffConfig.from_path(str(PROJECT_ROOT)))


def style_problems(linter: Linter, resource: Resource) -> list[str]:
    result = linter.lint_string(staging_sql(resource, get_paths()), fname=f"{staging_model(resource)}.sql")
    return [f"L{v.line_no} {v.rule_code()}: {v.desc()}" for v in result.get_violations()]


def test_the_linter_reads_the_project_configuration(linter):
    problems = linter.lint_string("SELECT a,b FROM {{ ref('x') }}\n", fname="x.sql").get_violations()
    assert {v.rule_code() for v in problems} >= {"CP01", "LT09"}  # uppercase keywords, targets on one line


@pytest.mark.parametrize("resource", load_catalog(), ids=lambda r: r.table)
def test_generated_staging_model_is_lint_clean(linter, resource):
    assert style_problems(linter, resource) == []


def test_generated_staging_model_without_a_key_is_lint_clean(linter):
    resource = load_catalog()[0].model_copy(update={"key": []})
    assert style_problems(linter, resource) == []
