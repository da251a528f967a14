"""Every scenario in tests/scenarios passes, plainly and with save/restore after every step."""

import pytest

from runner.simulate import run_scenario
from tests.conftest import SCENARIO_DIR

SCENARIOS = sorted(SCENARIO_DIR.glob("*.yaml"))


def test_there_is_a_scenario_for_every_procedure():
    names = {p.name.split("__")[0] for p in SCENARIOS}
    assert {"case_transfer", "info_query", "joint_enforcement", "quarterly_meeting"} <= names


@pytest.mark.parametrize("roundtrip", [False, True], ids=["plain", "roundtrip"])
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(path, roundtrip, settings):
    outcome = run_scenario(path, settings, roundtrip=roundtrip)
    assert outcome.ok, "\n".join(outcome.transcript)
