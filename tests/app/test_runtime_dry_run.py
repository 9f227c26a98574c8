"""WARDEN_DRY_RUN end to end: the service built with it plans actions and WeCom sees nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.main import create_app
from app.simulator.runner import SimulatorServer
from app.simulator.state import SimConfig
from app.wecom.codes import Endpoint
from tests.callbacks import post_text, wait_for
from tests.conftest import CORP_ID, make_settings
from tests.dbutil import fetch
from tests.factories import WarnEveryMessage


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(config=SimConfig(corp_id=CORP_ID)) as server:
        yield server


class TestDryRun:
    @pytest.mark.parametrize("dry_run", [True, False])
    def test_a_planned_action_reaches_wecom_only_without_dry_run(
        self, sqlite_url: str, live_server_factory: Any, sim: SimulatorServer, dry_run: bool
    ) -> None:
        settings = make_settings(
            sqlite_url,
            wecom_base_url=sim.base_url,
            dry_run=dry_run,
            agent_id=sim.config.agent_id,
            secret=sim.config.secret,
        )
        server = live_server_factory(
            create_app(settings, run_worker=True, domains=[WarnEveryMessage().domain()])
        )
        post_text(settings, server.url, 701, "大家好")
        wait_for(
            lambda: (
                fetch(sqlite_url, "SELECT count(*) FROM action WHERE status NOT IN ('planned', 'executing')")[
                    0
                ][0]
                == 1
            )
        )
        (action,) = fetch(sqlite_url, "SELECT status, wecom_endpoint FROM action")
        sends = sim.state.calls_snapshot(Endpoint.MESSAGE_SEND.value)
        if dry_run:
            assert (action.status, action.wecom_endpoint) == ("dry_run", Endpoint.MESSAGE_SEND.value)
            assert sends == []
        else:
            assert action.status == "done" and len(sends) == 1
