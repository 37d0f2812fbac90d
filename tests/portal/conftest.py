"""The local portal for integration tests: started once per session by the project's own code."""
from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def portal() -> Iterator[tuple[str, str]]:
    """(ckan_url, api_token) of the local CKAN, after `portal.stack.up()` (fast when it runs).

    Always the local stack, never `KCDATA_CKAN_URL`: these tests create and purge datasets.
    A stack this session started is stopped at the end (data kept); one that was already
    running, e.g. a developer's, is left running.
    """
    from portal.stack import connection, down, status, up

    was_running = status().running
    up()
    yield connection(local=True)
    if not was_running:
        down()
