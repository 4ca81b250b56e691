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

READ_PROFILE = (
    "import tests.conftest; from hypothesis import settings; "
    "print(settings.default.max_examples, settings.default.derandomize, [p.name for p in settings.default.phases])"
)


@pytest.mark.parametrize("ci_variables", [{}, {"CI": "true"}, {"GITHUB_ACTIONS": "true"}])
def test_make_test_tries_three_derandomized_examples_without_shrinking(ci_variables):
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")} | ci_variables
    shown = subprocess.run(
        [sys.executable, "-c", READ_PROFILE], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip().split(maxsplit=2) == ["3", "True", "['explicit', 'generate']"]
