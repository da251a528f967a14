from pathlib import Path

import pytest

from tests.conftest import prepared_runtime

FIXTURES = Path(__file__).parent / "fixtures"

SENDER = "market_regulation.officer"
RECEIVER = "health.officer"
START_DATA = {"title": "某超市销售过期食品案", "receiver_unit": "health"}


@pytest.fixture
def mini_rt(settings):
    """A runtime whose only diagram is the small fixture process `mini`."""
    yield from prepared_runtime(settings.with_(bpmn_dir=FIXTURES))
