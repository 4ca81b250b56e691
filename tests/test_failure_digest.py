"""The run's last lines name the error under a property test's wrappers, where it was raised."""

from __future__ import annotations

from hypothesis.errors import FlakyFailure

from tests.failure_digest import describe, innermost


def _raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:  # noqa: BLE001 - the test keeps whatever was raised
        return caught


def test_the_innermost_error_is_named_whole_with_its_frames() -> None:
    cause = _raised(RuntimeError("dbt build stopped after 240 s: waiting for pid 42\nsecond line"))
    flaky = FlakyFailure("Hypothesis test produces unreliable results", [cause])
    assert innermost(flaky) == [cause]
    digest = describe("tests/x.py::test_y", "call", flaky)
    assert digest.splitlines() == [
        "tests/x.py::test_y (call)",
        "  RuntimeError: dbt build stopped after 240 s: waiting for pid 42 | second line",
        f"    at tests/test_failure_digest.py:{_raised.__code__.co_firstlineno + 2} _raised",
    ]


def test_a_long_message_is_cut() -> None:
    digest = describe("t", "setup", ValueError("x" * 5000))
    assert len(digest.splitlines()[1]) < 800
