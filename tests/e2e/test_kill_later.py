"""SIGKILL the later stages (score, report, tune) at seeded random moments and inside their swaps:
the cases and the check are test_kill.py's (its docstring says what is checked)."""

from __future__ import annotations

import pytest

from tests.e2e.test_kill import CASES, EARLIER, kill_and_check

pytestmark = pytest.mark.slow

LATER = [c for c in CASES if c not in EARLIER]


@pytest.mark.parametrize("case", LATER, ids=[c.stage for c in LATER])
def test_a_kill_never_loses_the_previous_output_and_leaves_nothing(case, tiny_cafe_root, tmp_path):
    kill_and_check(case, tiny_cafe_root, tmp_path)
