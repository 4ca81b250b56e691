"""Clickstream events of shoppers on the live site, for the real-time path.

Sessions follow a funnel: page views, then some add a product to the cart, some of
those check out, most of those purchase. Events reference real customer and product
ids (or no customer, for anonymous visitors). Deterministic for a seed; timestamps
come from `clock`, the wall clock unless a test passes its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import psycopg

from services.source.generator import popularity

EVENT_TYPES = ("page_view", "add_to_cart", "checkout", "purchase")
ANONYMOUS_SHARE = 0.3
ADD_TO_CART, CHECKOUT, PURCHASE = 0.35, 0.55, 0.7


@dataclass(frozen=True)
class Catalogue:
    """What shoppers can be and buy: real ids and prices from the source database."""

    customer_ids: np.ndarray
    product_ids: np.ndarray
    prices: list[Decimal]


def read_catalogue(conn: psycopg.Connection) -> Catalogue:
    customers = [r[0] for r in conn.execute("SELECT customer_id FROM shop.customers ORDER BY customer_id")]
    products = conn.execute("SELECT product_id, price FROM shop.products WHERE active ORDER BY product_id").fetchall()
    if not customers or not products:
        raise ValueError("the source database has no customers or active products: run `sandbox load` first")
    return Catalogue(np.array(customers), np.array([p[0] for p in products]), [p[1] for p in products])


def _now() -> datetime:
    return datetime.now(UTC)


def clickstream(
    catalogue: Catalogue, seed: int = 0, clock: Callable[[], datetime] = _now
) -> Iterator[dict[str, object]]:
    """An endless iterator of events (dicts ready for JSON); take as many as you need."""
    rng = np.random.default_rng(seed)
    weights = popularity(rng, len(catalogue.product_ids), 1.1)

    def event(
        kind: str, session: str, customer: int | None, product: int, at: datetime, qty: int = 0
    ) -> dict[str, object]:
        price = catalogue.prices[product]
        return {
            "event_id": str(uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | int(rng.integers(0, 2**63)), version=4)),
            "event_type": kind,
            "session_id": session,
            "customer_id": customer,
            "product_id": int(catalogue.product_ids[product]),
            "quantity": qty,
            "price": str(price) if kind in ("add_to_cart", "checkout", "purchase") else None,
            "occurred_at": at,  # moved and formatted once the session is planned
        }

    while True:
        # A session's events are planned from its start and then moved back in time so that
        # its last one happened when the session began: none is stamped later than it is sent.
        planned: list[dict[str, object]] = []
        session = str(uuid.UUID(int=int(rng.integers(0, 2**63)), version=4))
        customer = None if rng.random() < ANONYMOUS_SHARE else int(rng.choice(catalogue.customer_ids))
        started = at = clock()
        viewed = rng.choice(len(catalogue.product_ids), size=int(rng.geometric(0.3)), p=weights)
        for product in viewed:
            planned.append(event("page_view", session, customer, product, at))
            at += timedelta(seconds=float(rng.exponential(20)))
        if rng.random() < ADD_TO_CART:
            product, qty = viewed[-1], int(1 + rng.poisson(0.3))
            planned.append(event("add_to_cart", session, customer, product, at, qty))
            if rng.random() < CHECKOUT:
                planned.append(event("checkout", session, customer, product, at + timedelta(seconds=30), qty))
                if rng.random() < PURCHASE:
                    planned.append(event("purchase", session, customer, product, at + timedelta(seconds=60), qty))
        shift = planned[-1]["occurred_at"] - started
        for planned_event in planned:
            planned_event["occurred_at"] = (planned_event["occurred_at"] - shift).isoformat(timespec="milliseconds")
            yield planned_event
