"""Clickstream events reference real rows, follow the funnel, and repeat for a seed."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from services.source.clickstream import EVENT_TYPES, Catalogue, clickstream, read_catalogue
from services.source.loader import load_folder


def fixed_clock() -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC)


def test_events_reference_real_ids_and_follow_the_funnel(scratch_source, small_csvs) -> None:
    load_folder(scratch_source, small_csvs)
    catalogue = read_catalogue(scratch_source)
    events = list(itertools.islice(clickstream(catalogue, seed=4, clock=fixed_clock), 3000))

    customers = {r[0] for r in scratch_source.execute("SELECT customer_id FROM shop.customers")}
    products = {r[0] for r in scratch_source.execute("SELECT product_id FROM shop.products")}
    assert {e["customer_id"] for e in events} - {None} <= customers
    assert {e["product_id"] for e in events} <= products
    assert len({e["event_id"] for e in events}) == len(events)
    assert {e["event_type"] for e in events} == set(EVENT_TYPES)

    by_session: dict[str, list[str]] = {}
    for e in events:
        by_session.setdefault(e["session_id"], []).append(e["event_type"])
    for kinds in by_session.values():
        ranks = [EVENT_TYPES.index(k) for k in kinds]
        assert ranks == sorted(ranks) and kinds[0] == "page_view"
    counts = {k: sum(e["event_type"] == k for e in events) for k in EVENT_TYPES}
    assert counts["page_view"] > counts["add_to_cart"] > counts["checkout"] > counts["purchase"] > 0
    assert all(e["price"] is not None for e in events if e["event_type"] == "purchase")


def test_the_same_seed_gives_the_same_events(scratch_source, small_csvs) -> None:
    load_folder(scratch_source, small_csvs)
    catalogue = read_catalogue(scratch_source)
    first = list(itertools.islice(clickstream(catalogue, seed=8, clock=fixed_clock), 200))
    second = list(itertools.islice(clickstream(catalogue, seed=8, clock=fixed_clock), 200))
    assert first == second


def test_no_event_is_stamped_later_than_it_is_sent() -> None:
    """Sessions last minutes; their events are dated back from the moment the session is sent,
    so a live chart never shows a minute that has not happened yet."""
    catalogue = Catalogue(np.arange(1, 50), np.arange(1, 20), [Decimal("9.99")] * 19)
    sent = []
    for event in itertools.islice(clickstream(catalogue, seed=3), 2000):
        sent.append((datetime.fromisoformat(event["occurred_at"]), datetime.now(UTC), event))
    assert all(occurred <= at for occurred, at, _ in sent)
    by_session: dict[str, list[datetime]] = {}
    for occurred, _, event in sent:
        by_session.setdefault(event["session_id"], []).append(occurred)
    assert all(times == sorted(times) for times in by_session.values())
    longest = max(times[-1] - times[0] for times in by_session.values())
    assert longest > timedelta(seconds=30)  # sessions keep their length
