"""`sandbox generate / load / tick` end to end as a user runs them, against a scratch source database
(the session's `source` database belongs to the pipeline flow's test)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli import sandbox


def test_generate_load_tick_from_the_command_line(scratch_source, tmp_path: Path) -> None:
    folder, database = tmp_path / "cli-data", {"SANDBOX_POSTGRES__SOURCE_DB": scratch_source.info.dbname}
    generated = sandbox("generate", "--orders", "200", "--seed", "3", "--out", str(folder))
    assert generated.returncode == 0, generated.stderr
    assert re.search(r"generated customers 40, addresses \d+, products 50, orders 200, .* -> ", generated.stderr)

    loaded = sandbox("load", str(folder), env=database)
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded customers 40," in loaded.stderr and "orders 200" in loaded.stderr

    again = sandbox("load", str(folder), env=database)
    assert again.returncode == 0 and "was loaded before" in again.stderr

    ticked = sandbox("tick", "--orders", "10", "--seed", "1", env=database)
    assert ticked.returncode == 0, ticked.stderr
    assert re.search(r"tick in [\d.]+ s: inserted: .*orders 10.*; updated: .*; deleted: .*orders \d+", ticked.stderr)


def test_a_bad_folder_is_a_clear_error(services, tmp_path: Path) -> None:
    result = sandbox("load", str(tmp_path))
    assert result.returncode == 1
    assert f"nothing was changed: {tmp_path}/customers.csv: file not found" in result.stderr


def test_generated_data_goes_where_the_settings_say(scratch_source, tmp_path: Path) -> None:
    """SANDBOX_SOURCE__GENERATED_DIR moves the default folder (the compose profile keeps it on a
    volume, off the read-only checkout); `sandbox load` finds the newest one there."""
    where = {"SANDBOX_SOURCE__GENERATED_DIR": str(tmp_path / "generated")}
    generated = sandbox("generate", "--orders", "20", "--seed", "5", "--as-of", "2026-06-30", env=where)
    assert generated.returncode == 0, generated.stderr
    folder = tmp_path / "generated" / "orders-20-seed-5-as-of-2026-06-30"
    assert (folder / "orders.csv").is_file()
    assert str(folder) in generated.stderr.replace("\n", "")
    loaded = sandbox("load", env={**where, "SANDBOX_POSTGRES__SOURCE_DB": scratch_source.info.dbname})
    assert loaded.returncode == 0, loaded.stderr
    assert "orders 20" in loaded.stderr
    assert scratch_source.execute("SELECT count(*) FROM shop.orders").fetchone()[0] == 20
    missing = sandbox("load", env={"SANDBOX_SOURCE__GENERATED_DIR": str(tmp_path / "empty")})
    message = re.sub(r"[│╭╮╰╯─\s]+", " ", missing.stderr)  # typer's error box, unwrapped
    assert missing.returncode != 0 and "no generated data under" in message and "empty;" in message.replace(" ", "")
