"""The property tests' example budget is the same on a laptop and in CI.

Hypothesis loads its own "ci" profile (100 examples, shrinking) when it sees a CI variable; the
pipeline's property test runs the whole pipeline per example, so that profile outlasts the
test's timeout in CI only. These runs import the test configuration as pytest does, with and
without a CI variable, and read the profile that results.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services.platform.settings import PROJECT_ROOT


def _profile(ci_variables: dict[str, str], load: str = "") -> list[str]:
    """(max_examples, derandomize, phases) of the active profile, after `load` (a profile name)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")} | ci_variables
    code = (
        "import tests.conftest; from hypothesis import settings; "
        + (f"settings.load_profile({load!r}); " if load else "")
        + "print(settings.default.max_examples, settings.default.derandomize,"
        " [p.name for p in settings.default.phases])"
    )
    shown = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.strip().split(maxsplit=2)


@pytest.mark.parametrize("ci_variables", [{}, {"CI": "true"}, {"GITHUB_ACTIONS": "true"}])
def test_make_test_tries_three_derandomized_examples_without_shrinking(ci_variables):
    assert _profile(ci_variables) == ["3", "True", "['explicit', 'generate']"]


@pytest.mark.parametrize("ci_variables", [{}, {"CI": "true"}])
def test_make_fuzz_tries_sixty_new_examples_and_shrinks(ci_variables):
    examples, derandomize, phases = _profile(ci_variables, load="fuzz")
    assert (examples, derandomize) == ("60", "False") and "'shrink'" in phases
