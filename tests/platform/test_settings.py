"""The config layer: profiles choose defaults, explicit settings win, errors name the field."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

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


AWS_REQUIRED = {
    "SANDBOX_PROFILE": "aws",
    "SANDBOX_POSTGRES__HOST": "db.example.internal",
    "SANDBOX_CATALOG__URI": "https://s3tables.us-east-1.amazonaws.com/iceberg",
    "SANDBOX_PREFECT__API_URL": "https://prefect.example.internal/api",
}
REAL_PASSWORDS = {
    f"SANDBOX_POSTGRES__{role}_PASSWORD": f"real-{role.lower()}-secret"
    for role in ("ADMIN", "APP", "REPLICATION", "DBT", "PREFECT")
}


def test_aws_profile_uses_real_endpoints_and_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as error:
        make(monkeypatch, SANDBOX_PROFILE="aws")
    assert "postgres.host" in str(error.value)
    settings = make(monkeypatch, **AWS_REQUIRED, **REAL_PASSWORDS)
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


def test_aws_profile_refuses_sandbox_default_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="SANDBOX_POSTGRES__ADMIN_PASSWORD, SANDBOX_POSTGRES__APP_PASSWORD"):
        make(monkeypatch, **AWS_REQUIRED)
    with pytest.raises(ValidationError, match="SANDBOX_AWS__SECRET_ACCESS_KEY"):
        make(monkeypatch, **AWS_REQUIRED, **REAL_PASSWORDS, SANDBOX_AWS__ACCESS_KEY_ID="AKIAREAL",
             SANDBOX_AWS__SECRET_ACCESS_KEY="sandbox-secret-key")  # fmt: skip
    settings = make(monkeypatch, **AWS_REQUIRED, **REAL_PASSWORDS)
    assert settings.warehouse.engine == "snowflake" and settings.dbt.target == "aws"
    assert settings.catalog.signing_name == "s3tables"
    assert settings.s3.endpoint_url is None and settings.kinesis.endpoint_url is None


def test_secrets_are_redacted_from_logs(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from services.platform.logs import RedactSecrets

    settings = make(monkeypatch, SANDBOX_POSTGRES__DBT_PASSWORD="hunter22", SANDBOX_SNOWFLAKE__PASSWORD="s3cr3t!")
    caplog.handler.addFilter(RedactSecrets(settings.secrets()))
    logging.getLogger("test").info("connecting with %s and %s", "hunter22", "s3cr3t!")
    assert "hunter22" not in caplog.text and "s3cr3t!" not in caplog.text
    assert "connecting with *** and ***" in caplog.text


def test_the_local_defaults_are_not_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    """They are published in .env.example; redacting the access key `sandbox` mangled paths."""
    settings = make(monkeypatch, SANDBOX_POSTGRES__DBT_PASSWORD="hunter22")
    assert settings.aws.access_key_id is not None and settings.aws.access_key_id.get_secret_value() == "sandbox"
    assert settings.secrets() == ["hunter22"]


def test_snowflake_registers_lake_tables_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.warehouse.snowflake import register_statements

    settings = make(monkeypatch, **AWS_REQUIRED, **REAL_PASSWORDS)
    statements = register_statements(settings, "silver", "orders")
    assert statements[1] == (
        'CREATE ICEBERG TABLE IF NOT EXISTS "LAKE"."ORDERS" EXTERNAL_VOLUME = \'SANDBOX_LAKE_VOLUME\' '
        "CATALOG = 'SANDBOX_LAKE' CATALOG_NAMESPACE = 'silver' CATALOG_TABLE_NAME = 'orders'"
    )
    assert statements[2] == 'ALTER ICEBERG TABLE "LAKE"."ORDERS" REFRESH'


def test_snowflake_names_missing_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.platform.clients import snowflake_connect

    settings = make(monkeypatch, **AWS_REQUIRED, **REAL_PASSWORDS, SANDBOX_SNOWFLAKE__ACCOUNT="xy12345")
    with pytest.raises(ValueError, match="SANDBOX_SNOWFLAKE__USER, SANDBOX_SNOWFLAKE__PASSWORD"):
        snowflake_connect(settings)


def test_seeded_histories_end_on_the_fixed_day_or_else_today(monkeypatch: pytest.MonkeyPatch) -> None:
    assert make(monkeypatch, SANDBOX_SOURCE__AS_OF="2028-02-29").source.history_end() == date(2028, 2, 29)
    before = datetime.now(UTC).date()
    assert before <= make(monkeypatch).source.history_end() <= datetime.now(UTC).date()  # midnight may pass between
    with pytest.raises(ValidationError, match="as_of"):
        make(monkeypatch, SANDBOX_SOURCE__AS_OF="29 Feb")
