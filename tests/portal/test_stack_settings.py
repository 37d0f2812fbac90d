"""What the local stack's Airflow services run with, from the settings of the shell that ran
`kcdata up` (kept in the state folder's system.env). Pure: no service is started."""
from __future__ import annotations

import pytest

from stack import airflow
from stack import secrets as sec
from stack.layout import Layout
from stack.proc import PortalError


def _layout(tmp_path, settings: dict[str, str]) -> Layout:
    layout = Layout(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    sec.save(layout.system_env, settings)
    sec.save(layout.secrets_file, {sec.PG_AIRFLOW_PASSWORD: "x"})  # what the first `up` makes
    return layout


def test_dag_files_are_parsed_every_5_seconds_unless_the_shell_says_otherwise(tmp_path):
    """A catalog edit shows within seconds on a small catalog; a big one raises the interval
    (KCDATA_PARSE_INTERVAL) so that parsing its 1,000 ingest DAGs does not take a core."""
    key = "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL"
    assert airflow.environment(_layout(tmp_path / "default", {}))[key] == "5"
    assert airflow.environment(_layout(tmp_path / "big", {"KCDATA_PARSE_INTERVAL": "60"}))[key] == "60"


@pytest.mark.parametrize("value", ["often", "0", "-5", "1.5"])
def test_a_wrong_parse_interval_stops_up_with_its_name(tmp_path, value):
    with pytest.raises(PortalError, match=f"KCDATA_PARSE_INTERVAL='{value}'"):
        airflow.programs(_layout(tmp_path, {"KCDATA_PARSE_INTERVAL": value}))
