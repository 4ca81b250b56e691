"""The dbt project parses for every profile's target without a connection (Snowflake included),
and the manifest holds what the project promises: contracts on marts, tests on every key."""

from __future__ import annotations

import json
import os

import pytest

from services.warehouse.dbt import dbt, target_dir


@pytest.mark.parametrize("target", ["local", "compose", "aws"])
def test_dbt_parses_for_every_target(settings, target, monkeypatch) -> None:
    for name in [n for n in os.environ if n.startswith("SNOWFLAKE_")]:
        monkeypatch.delenv(name)
    outcome = dbt(settings.model_copy(update={"dbt": settings.dbt.model_copy(update={"target": target})}), "parse")
    assert outcome.success, outcome.error()
    manifest = json.loads((target_dir(settings) / "manifest.json").read_text())
    nodes = manifest["nodes"].values()
    marts = [n for n in nodes if n["resource_type"] == "model" and n["fqn"][1] == "marts"]
    assert len(marts) >= 10
    assert all(m["contract"]["enforced"] for m in marts), "every mart has an enforced contract"
    assert all(m["description"] for m in nodes if m["resource_type"] == "model")
    tests = [n for n in nodes if n["resource_type"] == "test"]
    tested = {t.get("attached_node") for t in tests}
    assert {m["unique_id"] for m in marts} <= tested, "every mart is tested"
    assert any(e["type"] == "dashboard" for e in manifest["exposures"].values())
    assert [n for n in nodes if n["resource_type"] == "snapshot"]
    assert manifest["unit_tests"]
