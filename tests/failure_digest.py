"""The last lines of a test run, written for a reader who sees only those (a CI summary).

pytest's short summary cuts each failure to one line of the terminal's width, and a property
test's failure arrives wrapped (Hypothesis' Flaky and exception groups, pytest-timeout's stack
dump): the error that matters is rarely on that line. At the very end this plugin prints,
for each failed test, its innermost errors with their whole first lines and the project frames
they passed through (for a timeout, where the test was when it fired).
"""

from __future__ import annotations

import traceback

import pytest

from services.platform.settings import PROJECT_ROOT

_DIGEST = pytest.StashKey[list[str]]()
MESSAGE_CHARS = 700
FRAMES = 4


def innermost(error: BaseException) -> list[BaseException]:
    """The errors at the bottom of groups and causes: what actually went wrong."""
    if isinstance(error, BaseExceptionGroup):
        return [inner for member in error.exceptions for inner in innermost(member)]
    if error.__cause__ is not None and type(error).__name__ == "_WrappedBaseException":
        return innermost(error.__cause__)
    return [error]


def _ours(path: str) -> bool:
    return path.startswith(str(PROJECT_ROOT)) and "/.venv" not in path


def project_frames(error: BaseException) -> list[str]:
    """The innermost project frames `error` passed through. pytest-timeout's signal method raises
    in the main thread, so for a timeout these are where the test was when it fired."""
    frames = [
        f"{frame.filename.removeprefix(f'{PROJECT_ROOT}/')}:{frame.lineno} {frame.name}"
        for frame in traceback.extract_tb(error.__traceback__)
        if _ours(frame.filename)
    ]
    return frames[-FRAMES:]


def describe(nodeid: str, when: str, error: BaseException) -> str:
    lines = [f"{nodeid} ({when})"]
    for inner in innermost(error):
        message = " | ".join(line.strip() for line in str(inner).splitlines() if line.strip())
        lines.append(f"  {type(inner).__name__}: {message[:MESSAGE_CHARS]}")
        if frames := project_frames(inner):
            lines.append(f"    at {' < '.join(reversed(frames))}")
    return "\n".join(lines)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    if outcome.get_result().failed and call.excinfo is not None:
        item.config.stash.setdefault(_DIGEST, []).append(describe(item.nodeid, call.when, call.excinfo.value))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Last of all, after the summary and the services' shutdown messages."""
    if digest := config.stash.get(_DIGEST, []):
        terminal = config.get_terminal_writer()
        terminal.sep("-", "failures, innermost errors first")
        for entry in digest:
            terminal.line(entry)
