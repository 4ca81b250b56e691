"""The GitHub Actions workflow runs what a developer runs, and what .ci/run runs: `make lint`,
`make test` and `make test-compose`."""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
import shlex
from typing import Any

import jsonschema
import yaml

from services.platform.settings import PROJECT_ROOT

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "ci.yml"
CI_RUN = PROJECT_ROOT / ".ci" / "run"
README = PROJECT_ROOT / "README.md"
VENV_INPUTS = ("requirements.lock", "pyproject.toml", "services/platform/local/kinesalite/package-lock.json")


@functools.cache
def workflow() -> dict[Any, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def triggers() -> Any:
    # YAML 1.1 reads the key `on` as the boolean True.
    document = workflow()
    return document["on"] if "on" in document else document[True]


def steps() -> list[dict[str, Any]]:
    return [step for job in workflow()["jobs"].values() for step in job["steps"]]


def step_using(action: str) -> dict[str, Any]:
    found = [step for step in steps() if step.get("uses", "").split("@")[0] == action]
    assert len(found) == 1, f"expected one step using {action}"
    return found[0]


def commands() -> list[str]:
    """Every shell command the workflow runs, one per line of each `run`."""
    return [line.strip() for step in steps() if "run" in step for line in step["run"].splitlines() if line.strip()]


def ci_run_commands() -> list[str]:
    lines = [line.strip() for line in CI_RUN.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_the_workflow_follows_the_github_workflow_schema() -> None:
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendored / "github-workflows.json").read_text())
    document = {("on" if key is True else key): value for key, value in workflow().items()}
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == []


def test_the_workflow_runs_on_push_and_pull_request() -> None:
    on = triggers()
    events = set(on) if isinstance(on, dict | list) else {on}
    assert {"push", "pull_request"} <= events


def test_one_job_on_ubuntu_with_a_90_minute_limit() -> None:
    jobs = workflow()["jobs"]
    assert len(jobs) == 1
    job = next(iter(jobs.values()))
    assert job["runs-on"] == "ubuntu-latest"
    assert job["timeout-minutes"] == 90


def test_it_runs_exactly_make_lint_make_test_and_make_test_compose() -> None:
    make_commands = [command for command in commands() if shlex.split(command)[0] == "make"]
    assert make_commands == ["make lint", "make test", "make test-compose"]
    assert not [command for command in commands() if "pytest" in command or "ruff" in command]


def test_ci_run_calls_the_same_make_test_as_the_workflow_and_the_readme() -> None:
    assert CI_RUN.is_file()
    for command in ("make test", "make test-compose"):
        assert command in ci_run_commands()
        assert command in commands()
    assert re.search(r"^make test\b", README.read_text(), re.MULTILINE), "the README's test command"


def test_the_toolchain_matches_the_project() -> None:
    python = step_using("actions/setup-python")["with"]
    assert str(python["python-version"]) == "3.11"
    assert python["cache"] == "pip"
    assert python["cache-dependency-path"] == "requirements.lock"
    java = step_using("actions/setup-java")["with"]
    assert (java["distribution"], str(java["java-version"])) == ("temurin", "17")
    assert str(step_using("actions/setup-node")["with"]["node-version"]) == "20"


def test_the_venv_cache_is_keyed_on_what_the_venv_is_built_from() -> None:
    cache = step_using("actions/cache")["with"]
    assert cache["path"] == ".venv"
    hashed = re.search(r"hashFiles\(([^)]*)\)", cache["key"])
    assert hashed
    files = {name.strip(" '\"") for name in hashed[1].split(",")}
    assert set(VENV_INPUTS) <= files
    # The Makefile's install stamp depends on these files too; a key that missed one would restore a stale .venv.
    stamp_inputs = re.search(r"^\$\(STAMP\):(.*)$", (PROJECT_ROOT / "Makefile").read_text(), re.MULTILINE)
    assert stamp_inputs
    assert set(stamp_inputs[1].split()) <= files


def test_every_action_is_pinned_to_a_version() -> None:
    for step in steps():
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+(\.\d+)*", step["uses"]), step["uses"]


def test_the_workflow_only_reads_the_repository() -> None:
    assert workflow()["permissions"] == {"contents": "read"}
