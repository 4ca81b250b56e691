"""dbt, run in this process through its programmatic API, against the profile's target.

The connection comes from `Settings` (as DBT_* / SNOWFLAKE_* variables that `dbt/profiles.yml`
reads); dbt's target and log folders live under the sandbox home, so runs of the tests and
of the user never write into each other's. A failed test is reported with a few of the rows
that broke it, fetched with `dbt show`, so the reason is in the error, not in a log file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from dbt.cli.main import dbtRunner, dbtRunnerResult

from services.platform.clients import dbt_environment
from services.platform.settings import DBT_PROJECT_DIR, Settings

SAMPLE_ROWS = 5


@dataclass(frozen=True)
class Failure:
    node: str
    status: str
    message: str
    sample: str  # a few failing rows as a text table ("" for models)


class DbtBuildError(RuntimeError):
    def __init__(self, failures: list[Failure]) -> None:
        self.failures = failures
        lines = [f"dbt build failed: {len(failures)} node(s)"]
        for failure in failures:
            lines.append(f"- {failure.node} [{failure.status}]: {failure.message}")
            lines.extend("    " + line for line in failure.sample.splitlines())
        super().__init__("\n".join(lines))


@contextmanager
def _environment(settings: Settings) -> Iterator[None]:
    """dbt's variables for the duration of one command; only those keys are touched, since
    other threads of a flow run (the stream's producer and consumer) read the environment too."""
    variables = dbt_environment(settings)
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def dbt(settings: Settings, *args: str) -> dbtRunnerResult:
    """Run one dbt command (e.g. "build", "--select", "marts") against the profile's target."""
    project = str(DBT_PROJECT_DIR)
    work = settings.home / "dbt"
    common = ["--project-dir", project, "--profiles-dir", project, "--target", settings.dbt.target]
    if args[0] not in ("parse", "deps", "clean"):
        common += ["--threads", str(settings.dbt.threads)]
    with _environment(settings):
        return dbtRunner().invoke(
            [args[0], *args[1:], *common, "--target-path", str(work / "target"), "--log-path", str(work / "logs")]
        )


def build(settings: Settings, select: list[str] | None = None, full_refresh: bool = False) -> dbtRunnerResult:
    """`dbt build`: models, snapshots, seeds and tests in dependency order; raises on any failure."""
    args = ["build", *(["--select", *select] if select else []), *(["--full-refresh"] if full_refresh else [])]
    outcome = dbt(settings, *args)
    if outcome.success:
        return outcome
    if outcome.exception is not None or outcome.result is None:
        raise RuntimeError(f"dbt build could not run: {outcome.exception}")
    failed = [r for r in outcome.result.results if str(r.status) in ("fail", "error")]
    raise DbtBuildError([_failure(settings, r) for r in failed])


def _failure(settings: Settings, result: object) -> Failure:
    node = result.node
    sample = ""
    if node.resource_type == "test" and str(result.status) == "fail" and node.compiled_code:
        shown = dbt(settings, "show", "--inline", node.compiled_code, "--limit", str(SAMPLE_ROWS), "--quiet")
        if shown.success and shown.result and shown.result.results:
            sample = _as_text(shown.result.results[0].agate_table)
    return Failure(node.unique_id, str(result.status), (result.message or "").strip(), sample)


def _as_text(table: object) -> str:
    header = " | ".join(table.column_names)
    rows = [" | ".join("" if v is None else str(v) for v in row) for row in table.rows]
    return "\n".join([header, *rows])
