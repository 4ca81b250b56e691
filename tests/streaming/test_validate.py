"""Every kind of poison record is refused with a reason that says what is wrong."""

from __future__ import annotations

import json

import pytest

from services.streaming.validate import Refused, parse_event

GOOD = {
    "event_id": "e1",
    "event_type": "purchase",
    "session_id": "s1",
    "customer_id": None,
    "product_id": 3,
    "quantity": 2,
    "price": "19.99",
    "occurred_at": "2026-11-22T10:00:00.000+00:00",
}


def encoded(**changes) -> bytes:
    doc = {**GOOD, **changes}
    return json.dumps({k: v for k, v in doc.items() if v is not ...}).encode()


def test_a_good_event_parses() -> None:
    event = parse_event(encoded(), 10_000)
    assert (event.event_type, event.customer_id, event.quantity, str(event.price)) == ("purchase", None, 2, "19.99")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "invalid json"),
        (b"[1, 2]", "invalid json: not an object"),
        (b"\xff\xfe", "invalid json"),
        (encoded(event_id=...), "missing field event_id"),
        (encoded(product_id="3"), "wrong type: product_id must be an integer"),
        (encoded(quantity=True), "wrong type: quantity must be an integer"),
        (encoded(price="cheap"), "wrong type: price must be a decimal string"),
        (encoded(occurred_at="yesterday"), "wrong type: occurred_at"),
        (encoded(occurred_at="2026-11-22T10:00:00"), "occurred_at has no time zone"),
        (encoded(event_type="teleport"), "unknown event type 'teleport'"),
        (encoded(session_id="x" * 20_000), "oversized"),
    ],
)
def test_poison_is_refused_with_its_reason(data: bytes, reason: str) -> None:
    with pytest.raises(Refused, match=reason.replace("(", r"\(")):
        parse_event(data, 10_000)
