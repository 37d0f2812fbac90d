"""The test tiers (tests/tiers.py): set from the fixtures, the highest wins, and a unit test gets
no TCP connection, so that `-m unit` can be trusted to need no service."""
from __future__ import annotations

import socket

import pytest
from tiers import INTEGRATION, SYSTEM, UNIT, NoNetworkInUnitTests, tier_of  # tests/tiers.py


def test_the_highest_tier_among_the_fixtures_wins() -> None:
    assert tier_of([]) == tier_of(["tmp_path", "lake", "monkeypatch"]) == UNIT
    assert tier_of(["lake", "smtp_server"]) == tier_of(["postgres_server", "mariadb_server"]) == INTEGRATION
    assert tier_of(["smtp_server", "stations_api", "system", "portal"]) == tier_of(["browser", "web_server"]) == SYSTEM


def test_this_test_is_marked_unit_by_its_fixtures(request: pytest.FixtureRequest) -> None:
    assert [m.name for m in request.node.iter_markers() if m.name in (UNIT, INTEGRATION, SYSTEM)] == [UNIT]


def test_a_unit_test_gets_no_tcp_connection() -> None:
    with pytest.raises(NoNetworkInUnitTests, match="is a unit test"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", 9)) != 0
    left, right = socket.socketpair()  # Unix sockets stay allowed
    left.close()
    right.close()
