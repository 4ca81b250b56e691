"""The dbt project parses for every profile's target without a connection (Snowflake included),
and the manifest holds what the project promises: contracts on marts, tests on every key."""

from __future__ import annotations

import os

import pytest

from services.warehouse.dbt import dbt


@pytest.mark.parametrize("target", ["local", "compose", "aws"])
def test_dbt_parses_for_every_target(settings, target, monkeypatch) -> None:
    for name in [n for n in os.environ if n.startswith("SNOWFLAKE_")]:
        monkeypatch.delenv(name)
    outcome = dbt(settings.model_copy(update={"dbt": settings.dbt.model_copy(update={"target": target})}), "parse")
    assert outcome.success, outcome.exception
    manifest = outcome.result
    marts = [n for n in manifest.nodes.values() if n.resource_type == "model" and n.fqn[1] == "marts"]
    assert len(marts) >= 10
    assert all(m.contract.enforced for m in marts), "every mart has an enforced contract"
    assert all(m.description for m in manifest.nodes.values() if m.resource_type == "model")
    tests = [n for n in manifest.nodes.values() if n.resource_type == "test"]
    tested = {getattr(t, "attached_node", None) for t in tests}
    assert {m.unique_id for m in marts} <= tested, "every mart is tested"
    assert any(e.type == "dashboard" for e in manifest.exposures.values())
    assert [n for n in manifest.nodes.values() if n.resource_type == "snapshot"]
    assert manifest.unit_tests
