"""Turns one Kinesis record into a clickstream event row, or into the reason it was refused.

A refused record (invalid JSON, a missing or wrong-typed field, oversized, an unknown event
type) goes to `realtime.dead_letter` with that reason; the consumer never stops on one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from services.source.clickstream import EVENT_TYPES

PRICED = {"add_to_cart", "checkout", "purchase"}


@dataclass(frozen=True)
class Event:
    event_id: str
    event_type: str
    session_id: str
    customer_id: int | None
    product_id: int
    quantity: int
    price: Decimal | None
    occurred_at: datetime


class Refused(ValueError):
    """The record is not a valid event; the message is its dead-letter reason."""


def _text(doc: dict, name: str) -> str:
    value = doc.get(name)
    if value is None:
        raise Refused(f"missing field {name}")
    if not isinstance(value, str) or not value:
        raise Refused(f"wrong type: {name} must be a non-empty string")
    return value


def _integer(doc: dict, name: str, optional: bool = False) -> int | None:
    value = doc.get(name)
    if value is None:
        if optional and name in doc:
            return None
        raise Refused(f"missing field {name}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refused(f"wrong type: {name} must be an integer")
    return value


def parse_event(data: bytes, max_bytes: int) -> Event:
    """The event the record holds; raises Refused with the dead-letter reason."""
    if len(data) > max_bytes:
        raise Refused(f"oversized: {len(data)} bytes > {max_bytes}")
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Refused(f"invalid json: {error}") from None
    if not isinstance(doc, dict):
        raise Refused("invalid json: not an object")
    kind = _text(doc, "event_type")
    if kind not in EVENT_TYPES:
        raise Refused(f"unknown event type {kind!r}")
    quantity = _integer(doc, "quantity")
    if quantity < 0:
        raise Refused("wrong value: quantity is negative")
    price = None
    if kind in PRICED:
        try:
            price = Decimal(_text(doc, "price"))
        except InvalidOperation:
            raise Refused("wrong type: price must be a decimal string") from None
        if not price.is_finite() or price < 0 or price >= Decimal("1e8"):
            raise Refused("wrong value: price out of range")
    try:
        occurred_at = datetime.fromisoformat(_text(doc, "occurred_at"))
    except ValueError:
        raise Refused("wrong type: occurred_at must be an ISO-8601 timestamp") from None
    if occurred_at.tzinfo is None:
        raise Refused("wrong value: occurred_at has no time zone")
    return Event(
        event_id=_text(doc, "event_id"),
        event_type=kind,
        session_id=_text(doc, "session_id"),
        customer_id=_integer(doc, "customer_id", optional=True),
        product_id=_integer(doc, "product_id"),
        quantity=quantity,
        price=price.quantize(Decimal("0.01")) if price is not None else None,
        occurred_at=occurred_at,
    )
