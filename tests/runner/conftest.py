from pathlib import Path

import pytest

from runner.org import seed_demo_users, seed_units
from runner.runtime import deploy_definitions, make_runtime
from tests.conftest import T0

FIXTURES = Path(__file__).parent / "fixtures"

SENDER = "market_regulation.officer"
RECEIVER = "health.officer"
START_DATA = {"title": "某超市销售过期食品案", "receiver_unit": "health"}


@pytest.fixture
def mini_rt(settings):
    """A runtime whose only diagram is the small fixture process `mini`."""
    runtime = make_runtime(settings.with_(bpmn_dir=FIXTURES))
    with runtime.session() as s, s.begin():
        seed_units(s)
        seed_demo_users(s)
    deploy_definitions(runtime, T0)
    yield runtime
    runtime.session_factory.kw["bind"].dispose()
