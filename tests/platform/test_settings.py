"""The config layer: profiles choose defaults, explicit settings win, errors name the field."""

from __future__ import annotations

import os

import pytest
from pydantic import BaseModel, ValidationError

from services.platform.settings import PROJECT_ROOT, Profile, Settings


def make(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key in [k for k in os.environ if k.startswith("SANDBOX_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)


def test_local_is_the_default_and_binds_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make(monkeypatch)
    assert settings.profile is Profile.LOCAL
    assert settings.postgres.host == "127.0.0.1"
    for url in (
        settings.s3.endpoint_url,
        settings.catalog.uri,
        settings.kinesis.endpoint_url,
        settings.prefect.api_url,
    ):
        assert url is not None and url.startswith("http://127.0.0.1:")


def test_nested_variables_override_profile_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make(monkeypatch, SANDBOX_POSTGRES__PORT="6543", SANDBOX_S3__RAW_BUCKET="landing")
    assert settings.postgres.port == 6543
    assert settings.postgres.host == "127.0.0.1"  # the rest of the section keeps its defaults
    assert settings.s3.buckets == ("landing", "final", "realtime")


def test_compose_profile_points_every_service_at_its_compose_hostname(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make(monkeypatch, SANDBOX_PROFILE="compose")
    assert settings.postgres.host == "postgres"
    assert settings.s3.endpoint_url == "http://s3:8333"
    assert settings.catalog.uri == "http://s3:8181"
    assert settings.kinesis.endpoint_url == "http://kinesis:4567"
    assert settings.prefect.api_url == "http://prefect-server:4200/api"
    assert settings.spark.master == "spark://spark-master:7077"


def test_aws_profile_uses_real_endpoints_and_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as error:
        make(monkeypatch, SANDBOX_PROFILE="aws")
    assert "postgres.host" in str(error.value)
    settings = make(
        monkeypatch,
        SANDBOX_PROFILE="aws",
        SANDBOX_POSTGRES__HOST="db.example.internal",
        SANDBOX_CATALOG__URI="https://glue.us-east-1.amazonaws.com/iceberg",
        SANDBOX_PREFECT__API_URL="https://prefect.example.internal/api",
    )
    assert settings.s3.endpoint_url is None and settings.kinesis.endpoint_url is None
    assert settings.aws.access_key_id is None  # the standard AWS credential chain


def test_an_unknown_profile_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="'staging' is not a valid Profile"):
        make(monkeypatch, SANDBOX_PROFILE="staging")


def test_secrets_do_not_print(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make(monkeypatch, SANDBOX_POSTGRES__ADMIN_PASSWORD="hunter2")
    assert "hunter2" not in repr(settings)
    assert settings.postgres.admin_password.get_secret_value() == "hunter2"


def env_names(model: type[BaseModel], prefix: str = "SANDBOX_") -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += env_names(annotation, f"{prefix}{name.upper()}__")
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


def env_example() -> dict[str, str]:
    """Every assignment in .env.example: SANDBOX_* settings and docker compose's COMPOSE_* variables."""
    return dict(
        line.split("=", 1)
        for line in (PROJECT_ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )


def test_env_example_documents_every_setting() -> None:
    """Every setting appears, assigned or (optional secrets) as a commented-out `# NAME=` line."""
    commented = {
        line.removeprefix("# ").split("=", 1)[0]
        for line in (PROJECT_ROOT / ".env.example").read_text().splitlines()
        if line.startswith("# SANDBOX_") and line.endswith("=")
    }
    documented = set(env_example()) | commented
    assert set(env_names(Settings)) == {name for name in documented if name.startswith("SANDBOX_")}
    assert all(name.startswith(("SANDBOX_", "COMPOSE_")) for name in documented)


def test_env_example_values_are_the_local_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    example = {name: value for name, value in env_example().items() if name.startswith("SANDBOX_")}
    assert make(monkeypatch, **example) == make(monkeypatch)
