"""The generator: deterministic, referentially sound, and shaped like a real shop."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from services.source.generator import Scale, generate_dataset, write_csvs
from services.source.tables import CSV_COLUMNS, TABLES, csv_name
from tests.fixed_time import AS_OF


def test_same_seed_and_scale_give_identical_bytes(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write_csvs(generate_dataset(500, 11, as_of=AS_OF), first)
    write_csvs(generate_dataset(500, 11, as_of=AS_OF), second)
    for table in TABLES:
        assert (first / csv_name(table)).read_bytes() == (second / csv_name(table)).read_bytes(), table


def test_separate_processes_write_identical_bytes(tmp_path: Path) -> None:
    """Two runs of the CLI with different string-hash seeds (as two shells would have) agree."""
    for name, hash_seed in (("a", "1"), ("b", "2")):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "services.cli",
                "generate",
                "--orders",
                "1000",
                "--seed",
                "5",
                "--as-of",
                "2026-06-15",
                "--out",
                str(tmp_path / name),
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
    for table in TABLES:
        assert (tmp_path / "a" / csv_name(table)).read_bytes() == (tmp_path / "b" / csv_name(table)).read_bytes(), table


def test_another_seed_gives_other_data(tmp_path: Path) -> None:
    write_csvs(generate_dataset(500, 11, as_of=AS_OF), tmp_path / "a")
    write_csvs(generate_dataset(500, 12, as_of=AS_OF), tmp_path / "b")
    assert (tmp_path / "a" / "orders.csv").read_bytes() != (tmp_path / "b" / "orders.csv").read_bytes()


def test_the_history_ends_on_the_as_of_day(tmp_path: Path) -> None:
    """The newest order is within a day of --as-of and no time is after it; another day moves
    the whole history (the same shop, shifted), so ticks stamped with the clock continue it."""
    for as_of in (AS_OF, date(2027, 2, 1)):
        data = generate_dataset(2000, 11, as_of=as_of)
        midnight = datetime.combine(as_of, time(), UTC)
        ordered = data["orders"]["ordered_at"].to_pylist()
        assert midnight - timedelta(days=1) < max(ordered) < midnight
        assert min(ordered) >= midnight - timedelta(days=366)
        for table, column in (("payments", "attempted_at"), ("customers", "signup_at")):
            assert max(data[table][column].to_pylist()) < midnight, table


def test_csv_headers_are_the_table_columns(small_csvs: Path) -> None:
    for table in TABLES:
        with (small_csvs / csv_name(table)).open(encoding="utf-8") as f:
            assert tuple(next(csv.reader(f))) == CSV_COLUMNS[table]


@pytest.fixture(scope="module")
def dataset():
    return generate_dataset(3000, 3, as_of=AS_OF)


def test_every_reference_points_at_an_existing_row(dataset) -> None:
    def ids(table: str, column: str) -> set[int]:
        return set(dataset[table][column].to_pylist())

    assert ids("addresses", "customer_id") <= ids("customers", "customer_id")
    assert ids("orders", "customer_id") <= ids("customers", "customer_id")
    assert ids("orders", "shipping_address_id") <= ids("addresses", "address_id")
    assert ids("order_items", "order_id") <= ids("orders", "order_id")
    assert ids("order_items", "product_id") <= ids("products", "product_id")
    assert ids("payments", "order_id") <= ids("orders", "order_id")
    for table in TABLES:
        key = CSV_COLUMNS[table][0]
        assert len(ids(table, key)) == len(dataset[table]), f"{table}.{key} is not unique"
    shipping = dict(
        zip(
            dataset["addresses"]["address_id"].to_pylist(), dataset["addresses"]["customer_id"].to_pylist(), strict=True
        )
    )
    orders = dataset["orders"]
    assert all(
        shipping[a] == c
        for a, c in zip(orders["shipping_address_id"].to_pylist(), orders["customer_id"].to_pylist(), strict=True)
    )


def test_sizes_follow_the_scale(dataset) -> None:
    scale = Scale(3000)
    assert len(dataset["orders"]) == 3000
    assert len(dataset["customers"]) == scale.customers == 600
    assert len(dataset["products"]) == scale.products == 50
    assert 1.8 < len(dataset["order_items"]) / 3000 < 2.6  # geometric baskets, mean ~2.2


def test_payments_charge_exactly_the_order_total(dataset) -> None:
    items = dataset["order_items"].to_pylist()
    totals: Counter[int] = Counter()
    for item in items:
        totals[item["order_id"]] += item["quantity"] * item["unit_price"] - item["discount"]
    for payment in dataset["payments"].to_pylist():
        assert payment["amount"] == totals[payment["order_id"]]
        assert payment["amount"] >= Decimal("0")


def test_failed_payments_are_retried_or_cancel_the_order(dataset) -> None:
    payments, orders = dataset["payments"].to_pylist(), dataset["orders"].to_pylist()
    status = {o["order_id"]: o["status"] for o in orders}
    by_order: dict[int, list[str]] = {}
    for p in payments:
        by_order.setdefault(p["order_id"], []).append(p["status"])
    failed = [order for order, attempts in by_order.items() if "failed" in attempts]
    assert 0.02 < len(failed) / len(orders) < 0.12
    for order in failed:
        attempts = by_order[order]
        assert attempts[-1] != "failed" or status[order] == "cancelled"
    assert all(p["failure_reason"] for p in payments if p["status"] == "failed")
    assert not any(p["failure_reason"] for p in payments if p["status"] != "failed")


def test_product_popularity_is_skewed_and_evenings_are_busier(dataset) -> None:
    sold = np.bincount(dataset["order_items"]["product_id"].to_numpy())
    top_share = np.sort(sold)[::-1][:5].sum() / sold.sum()
    assert top_share > 0.25  # Zipf: five of fifty products sell a quarter or more
    hours = pc.hour(dataset["orders"]["ordered_at"]).to_numpy()
    assert (hours == 19).sum() > 3 * (hours == 3).sum()


def test_recent_orders_are_still_in_flight(dataset) -> None:
    orders = dataset["orders"].to_pylist()
    recent = {o["status"] for o in orders[-30:]}  # ids increase with time
    old = Counter(o["status"] for o in orders[:1000])
    assert recent & {"placed", "paid", "shipped"}
    assert old["delivered"] > 0.7 * 1000 and not old.keys() & {"placed", "paid"}
