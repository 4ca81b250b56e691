"""Deterministic synthetic e-commerce data (the EC2 script role), written as CSV.

The same `seed`, `orders` and as-of day always give byte-identical files: all randomness
comes from one numpy generator and seeded Faker instances, and times are anchored to the
as-of day (default: today, UTC), so the history ends when the data is made and the ticks
and the clickstream, which stamp the clock, continue it without a gap. Generation is
vectorised with numpy; Faker only fills small pools of names, streets and cities per locale,
which rows then sample from.

Distributions: product popularity is Zipf-like, order times follow hour-of-day,
day-of-week and end-of-year seasonality, basket sizes are geometric, a few percent of
payments fail (most are retried), and an order's status follows its age.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from faker import Faker

from services.platform.settings import PROJECT_ROOT
from services.source.tables import CSV_COLUMNS, TABLES, csv_name

REFERENCE_DIR = PROJECT_ROOT / "seeds" / "reference"

WINDOW_DAYS = 365  # the history: the year before the as-of day
# The last orders come this long before the as-of midnight, so that their payment attempts
# (retries up to ~70 minutes later) are in the past too.
QUIET_BEFORE_AS_OF = np.timedelta64(2, "h")
US_PER_DAY = 86_400_000_000
# Orders by hour of day (UTC): quiet nights, lunch bump, evening peak.
HOUR_WEIGHTS = np.array([2, 1, 1, 1, 1, 2, 3, 5, 6, 6, 7, 8, 9, 8, 7, 7, 8, 9, 11, 12, 12, 10, 7, 4], float)
WEEKDAY_WEIGHTS = np.array([1.0, 0.95, 0.95, 1.0, 1.1, 1.3, 1.25])  # Monday .. Sunday
MONTH_WEIGHTS = np.array([0.9, 0.85, 0.95, 0.95, 1.0, 0.95, 0.95, 1.0, 1.0, 1.05, 1.35, 1.6])
PAYMENT_METHODS = np.array(["card", "paypal", "bank_transfer", "gift_card"])
METHOD_SHARE = np.array([0.68, 0.2, 0.08, 0.04])
METHOD_FAILURE_RATE = np.array([0.06, 0.03, 0.09, 0.02])
FAILURE_REASONS = np.array(["card_declined", "insufficient_funds", "expired_card", "fraud_suspected", "timeout"])
RETRY_AFTER_FAILURE = 0.75
PRODUCT_TAGS = np.array(["new", "sale", "eco", "bestseller", "limited", "gift"])

ProgressCallback = Callable[[str, int], None]


@dataclass(frozen=True)
class Reference:
    country_codes: np.ndarray
    locales: list[str]
    country_share: np.ndarray
    categories: np.ndarray
    median_price: np.ndarray
    price_spread: np.ndarray
    category_share: np.ndarray


def load_reference(folder: Path = REFERENCE_DIR) -> Reference:
    with (folder / "countries.csv").open(encoding="utf-8") as f:
        countries = list(csv.DictReader(f))
    with (folder / "categories.csv").open(encoding="utf-8") as f:
        categories = list(csv.DictReader(f))

    def share(rows: list[dict[str, str]]) -> np.ndarray:
        weights = np.array([float(r["weight"]) for r in rows])
        return weights / weights.sum()

    return Reference(
        country_codes=np.array([r["country_code"] for r in countries]),
        locales=[r["faker_locale"] for r in countries],
        country_share=share(countries),
        categories=np.array([r["category"] for r in categories]),
        median_price=np.array([float(r["median_price"]) for r in categories]),
        price_spread=np.array([float(r["price_spread"]) for r in categories]),
        category_share=share(categories),
    )


@dataclass(frozen=True)
class Scale:
    """Table sizes derived from the number of orders."""

    orders: int

    @property
    def customers(self) -> int:
        return max(10, self.orders // 5)

    @property
    def products(self) -> int:
        return min(5000, max(50, self.orders // 200))


def _order_set_built_lists(fake: Faker) -> None:
    """Sort the value lists some Faker locales build from a set (it_IT's `cities`).

    A set's order follows Python's per-process string hashing, so without this the same seed
    gives other cities in another process, and generated files would differ between runs.
    """
    for provider in fake.get_providers():
        if isinstance(getattr(provider, "cities", None), list):
            provider.cities = sorted(provider.cities)


class PeoplePools:
    """Per-locale pools of Faker values; rows sample from them (fast, deterministic)."""

    FIELDS = ("first_name", "last_name", "street_address", "city", "postcode", "phone_number")

    def __init__(self, locales: list[str], seed: int, size: int = 400) -> None:
        self.pools: list[dict[str, np.ndarray]] = []
        for index, locale in enumerate(locales):
            fake = Faker(locale)
            fake.seed_instance(seed * 1000 + index)
            _order_set_built_lists(fake)
            self.pools.append({field: np.array([getattr(fake, field)() for _ in range(size)]) for field in self.FIELDS})

    def sample(self, rng: np.random.Generator, locale_index: np.ndarray, field: str) -> np.ndarray:
        out = np.empty(len(locale_index), dtype=object)
        for index, pool in enumerate(self.pools):
            rows = np.flatnonzero(locale_index == index)
            out[rows] = pool[field][rng.integers(0, len(pool[field]), len(rows))]
        return out


def decimal_from_cents(cents: np.ndarray, precision: int = 12) -> pa.Array:
    """Exact decimal(precision, 2) from integer cents (no float rounding on the way)."""
    limbs = np.empty((len(cents), 2), dtype=np.int64)
    limbs[:, 0] = cents
    limbs[:, 1] = cents >> 63  # sign-extend into the high 64 bits of the int128
    return pa.Array.from_buffers(pa.decimal128(precision, 2), len(cents), [None, pa.py_buffer(limbs.tobytes())])


def timestamps(micros: np.ndarray) -> pa.Array:
    return pa.array(micros.astype("datetime64[us]")).cast(pa.timestamp("us", tz="UTC"))


def popularity(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Zipf-like probabilities over n items, in a random order (rank 1 is not always id 1)."""
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return rng.permutation(weights / weights.sum())


def window_end(as_of: date) -> np.datetime64:
    """The as-of day's midnight (UTC), in microseconds."""
    return np.datetime64(as_of, "us")


def order_times(rng: np.random.Generator, count: int, end: np.datetime64) -> np.ndarray:
    """Microseconds since epoch, seasonal by month, weekday and hour, over the year before `end`
    (the last `QUIET_BEFORE_AS_OF` of it left empty)."""
    start = end - np.timedelta64(WINDOW_DAYS, "D")
    days = start.astype("datetime64[D]") + np.arange(WINDOW_DAYS)
    month = days.astype("datetime64[M]").astype(int) % 12
    weekday = (days.astype(int) + 3) % 7  # 1970-01-01 was a Thursday
    trend = 1 + 0.4 * np.arange(WINDOW_DAYS) / WINDOW_DAYS
    day_weights = MONTH_WEIGHTS[month] * WEEKDAY_WEIGHTS[weekday] * trend
    day = rng.choice(WINDOW_DAYS, size=count, p=day_weights / day_weights.sum())
    hour = rng.choice(24, size=count, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    within_hour = rng.integers(0, 3_600_000_000, count)
    at = start.astype("datetime64[us]").astype(np.int64) + day * US_PER_DAY + hour * 3_600_000_000 + within_hour
    quiet_from = (end - QUIET_BEFORE_AS_OF).astype("datetime64[us]").astype(np.int64)
    return np.where(at < quiet_from, at, at - US_PER_DAY)  # the last evening's orders: the day before


def make_customers(
    rng: np.random.Generator,
    reference: Reference,
    pools: PeoplePools,
    ids: np.ndarray,
    country: np.ndarray,
    signup_us: np.ndarray,
) -> pa.Table:
    segment = rng.choice(["consumer", "business", "vip"], size=len(ids), p=[0.85, 0.12, 0.03])
    domains = np.array(["example.com", "example.org", "mail.example.net"])[rng.integers(0, 3, len(ids))]
    phone = pools.sample(rng, country, "phone_number")
    phone[rng.random(len(ids)) < 0.2] = None  # not everyone gives a phone number
    return pa.table(
        {
            "customer_id": pa.array(ids, pa.int64()),
            "email": [f"customer{i}@{d}" for i, d in zip(ids, domains, strict=True)],
            "first_name": pools.sample(rng, country, "first_name"),
            "last_name": pools.sample(rng, country, "last_name"),
            "phone": pa.array(phone, pa.string()),
            "country_code": reference.country_codes[country],
            "segment": segment,
            "signup_at": timestamps(signup_us),
        }
    )


def make_addresses(
    rng: np.random.Generator,
    reference: Reference,
    pools: PeoplePools,
    customer_ids: np.ndarray,
    country: np.ndarray,
    first_id: int,
) -> pa.Table:
    """A shipping address per customer (the i-th customer's is first_id + i), billing for some."""
    billing = rng.random(len(customer_ids)) < 0.4
    owner = np.concatenate([customer_ids, customer_ids[billing]])
    owner_country = np.concatenate([country, country[billing]])
    kind = np.array(["shipping"] * len(customer_ids) + ["billing"] * int(billing.sum()))
    return pa.table(
        {
            "address_id": pa.array(first_id + np.arange(len(owner)), pa.int64()),
            "customer_id": pa.array(owner, pa.int64()),
            "kind": kind,
            "street": pools.sample(rng, owner_country, "street_address"),
            "city": pools.sample(rng, owner_country, "city"),
            "postal_code": pools.sample(rng, owner_country, "postcode"),
            "country_code": reference.country_codes[owner_country],
        }
    )


def make_products(rng: np.random.Generator, reference: Reference, seed: int, count: int) -> pa.Table:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    category = rng.choice(len(reference.categories), size=count, p=reference.category_share)
    price = np.exp(np.log(reference.median_price[category]) + reference.price_spread[category] * rng.normal(size=count))
    cents = np.maximum(np.floor(price), 0) * 100 + 99  # prices end in .99
    ids = np.arange(1, count + 1)
    names = [f"{fake.color_name()} {fake.word().title()} {reference.categories[c].title()}" for c in category]
    tag_mask = rng.random((count, len(PRODUCT_TAGS))) < 0.15
    weight_g = rng.integers(50, 20_000, count)
    rating = np.round(rng.uniform(2.5, 5.0, count), 1)
    return pa.table(
        {
            "product_id": pa.array(ids, pa.int64()),
            "sku": [f"SKU-{reference.categories[c][:3].upper()}-{i:06d}" for c, i in zip(category, ids, strict=True)],
            "name": names,
            "category": reference.categories[category],
            "price": decimal_from_cents(cents.astype(np.int64), 10),
            "currency": ["USD"] * count,
            "active": rng.random(count) > 0.05,
            "tags": ["{" + ",".join(PRODUCT_TAGS[row]) + "}" for row in tag_mask],
            "attributes": [
                json.dumps({"weight_g": int(w), "rating": float(r)}) for w, r in zip(weight_g, rating, strict=True)
            ],
        }
    )


def order_status(rng: np.random.Generator, age_days: np.ndarray) -> np.ndarray:
    """Older orders have finished their lifecycle; recent ones are still moving."""
    lifecycle = [
        (age_days < 3, ["placed", "paid", "shipped", "cancelled"], [0.3, 0.5, 0.15, 0.05]),
        ((age_days >= 3) & (age_days < 14), ["shipped", "delivered", "cancelled"], [0.6, 0.32, 0.08]),
        (age_days >= 14, ["delivered", "returned", "cancelled"], [0.88, 0.04, 0.08]),
    ]
    status = np.empty(len(age_days), dtype=object)
    for mask, names, shares in lifecycle:
        status[mask] = rng.choice(names, size=int(mask.sum()), p=shares)
    return status


def make_orders(
    rng: np.random.Generator,
    ids: np.ndarray,
    customer_ids: np.ndarray,
    shipping_address: np.ndarray,
    ordered_us: np.ndarray,
    end: np.datetime64,
) -> pa.Table:
    age_days = (end.astype("datetime64[us]").astype(np.int64) - ordered_us) / US_PER_DAY
    return pa.table(
        {
            "order_id": pa.array(ids, pa.int64()),
            "customer_id": pa.array(customer_ids, pa.int64()),
            "shipping_address_id": pa.array(shipping_address, pa.int64()),
            "status": order_status(rng, age_days),
            "ordered_at": timestamps(ordered_us),
            "currency": ["USD"] * len(customer_ids),
        }
    )


def make_order_items(
    rng: np.random.Generator,
    orders: pa.Table,
    product_ids: np.ndarray,
    product_cents: np.ndarray,
    product_weights: np.ndarray,
    first_id: int,
) -> tuple[pa.Table, np.ndarray]:
    """Items of each order, and each order's total in cents (quantity x unit price - discount)."""
    basket = np.minimum(rng.geometric(0.45, len(orders)), 10)
    position = np.repeat(np.arange(len(orders)), basket)  # each item's order, by row
    order_ids = orders["order_id"].to_numpy()[position]
    product = rng.choice(len(product_ids), size=len(order_ids), p=product_weights)
    quantity = 1 + rng.poisson(0.35, len(order_ids))
    unit = product_cents[product]
    discounted = rng.random(len(order_ids)) < 0.12
    discount = np.where(discounted, (unit * quantity * rng.uniform(0.05, 0.3, len(order_ids))).astype(np.int64), 0)
    totals = np.bincount(position, weights=quantity * unit - discount, minlength=len(orders)).astype(np.int64)
    items = pa.table(
        {
            "order_item_id": pa.array(first_id + np.arange(len(order_ids)), pa.int64()),
            "order_id": pa.array(order_ids, pa.int64()),
            "product_id": pa.array(product_ids[product], pa.int64()),
            "quantity": pa.array(quantity, pa.int32()),
            "unit_price": decimal_from_cents(unit, 10),
            "discount": decimal_from_cents(discount, 10),
        }
    )
    return items, totals


def make_payments(
    rng: np.random.Generator, orders: pa.Table, totals: np.ndarray, first_id: int
) -> tuple[pa.Table, np.ndarray]:
    """A payment attempt per order, a retry after most failures; returns payments and final statuses."""
    count, status = len(orders), orders["status"].to_numpy(zero_copy_only=False).astype(object)
    ordered_us = orders["ordered_at"].cast(pa.int64()).to_numpy()
    method = rng.choice(len(PAYMENT_METHODS), size=count, p=METHOD_SHARE)
    failed = rng.random(count) < METHOD_FAILURE_RATE[method]
    retried = failed & (rng.random(count) < RETRY_AFTER_FAILURE)
    status[failed & ~retried] = "cancelled"  # never paid: the shop cancels the order
    final = np.select(
        [status == "placed", status == "returned", status == "cancelled"],
        ["authorized", "refunded", "refunded"],
        "captured",
    ).astype(object)
    final[failed & ~retried] = "failed"
    first_attempt = ordered_us + rng.integers(5_000_000, 600_000_000, count)
    rows = {
        "order": np.concatenate([np.arange(count), np.flatnonzero(retried)]),
        "status": np.concatenate([np.where(failed, "failed", final), final[retried]]),
        "attempted": np.concatenate(
            [first_attempt, first_attempt[retried] + rng.integers(60, 3600, int(retried.sum())) * 1_000_000]
        ),
    }
    rows["method"] = np.concatenate([method, method[retried]])
    is_failure = rows["status"] == "failed"
    reason = np.where(is_failure, FAILURE_REASONS[rng.integers(0, len(FAILURE_REASONS), len(is_failure))], None)
    order_ids = orders["order_id"].to_numpy()
    payments = pa.table(
        {
            "order_id": pa.array(order_ids[rows["order"]], pa.int64()),
            "method": PAYMENT_METHODS[rows["method"]],
            "amount": decimal_from_cents(totals[rows["order"]], 12),
            "status": rows["status"].astype(str),
            "failure_reason": pa.array(reason, pa.string()),
            "attempted_at": timestamps(rows["attempted"]),
        }
    )
    payments = payments.sort_by([("order_id", "ascending"), ("attempted_at", "ascending")])
    payment_ids = pa.array(first_id + np.arange(len(payments)), pa.int64())
    return payments.add_column(0, "payment_id", payment_ids), status


def generate_dataset(
    orders: int, seed: int, *, as_of: date, progress: ProgressCallback | None = None
) -> dict[str, pa.Table]:
    """All six tables for `orders` orders over the year before `as_of` (settings:
    `source.history_end()`), as Arrow tables in foreign-key order. The same orders, seed and
    as-of day give the same data."""
    if orders < 1:
        raise ValueError(f"orders must be at least 1, got {orders}")
    end = window_end(as_of)
    report = progress or (lambda table, rows: None)
    rng, scale, reference = np.random.default_rng(seed), Scale(orders), load_reference()
    pools = PeoplePools(reference.locales, seed)

    products = make_products(rng, reference, seed, scale.products)
    product_cents = np.round(products["price"].cast(pa.float64()).to_numpy() * 100).astype(np.int64)
    report("products", len(products))

    buyer = rng.choice(scale.customers, size=orders, p=popularity(rng, scale.customers, 0.6))
    ordered_us = np.sort(order_times(rng, orders, end))  # order ids increase with time
    first_order = np.full(scale.customers, end.astype("datetime64[us]").astype(np.int64))
    np.minimum.at(first_order, buyer, ordered_us)
    days_before = rng.integers(0, 400, scale.customers) * US_PER_DAY + rng.integers(0, US_PER_DAY, scale.customers)
    customer_ids = np.arange(1, scale.customers + 1)
    country = rng.choice(len(reference.country_codes), size=scale.customers, p=reference.country_share)
    customers = make_customers(rng, reference, pools, customer_ids, country, first_order - days_before)
    report("customers", len(customers))
    addresses = make_addresses(rng, reference, pools, customer_ids, country, first_id=1)
    report("addresses", len(addresses))

    order_table = make_orders(rng, np.arange(1, orders + 1), customer_ids[buyer], customer_ids[buyer], ordered_us, end)
    item_weights = popularity(rng, scale.products, 1.1)
    items, totals = make_order_items(
        rng, order_table, products["product_id"].to_numpy(), product_cents, item_weights, first_id=1
    )
    payments, final_status = make_payments(rng, order_table, totals, first_id=1)
    status_column = order_table.schema.get_field_index("status")
    order_table = order_table.set_column(status_column, "status", pa.array(final_status.astype(str)))
    for name, table in (("orders", order_table), ("order_items", items), ("payments", payments)):
        report(name, len(table))
    return {
        "customers": customers,
        "addresses": addresses,
        "products": products,
        "orders": order_table,
        "order_items": items,
        "payments": payments,
    }


def write_csvs(dataset: dict[str, pa.Table], out_dir: Path) -> dict[str, int]:
    """Write one CSV per table, all or nothing: files appear together when complete."""
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    options = pacsv.WriteOptions(quoting_style="needed")
    for table in TABLES:
        data = dataset[table].select(list(CSV_COLUMNS[table]))
        pacsv.write_csv(data, staging / csv_name(table), options)
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    return {table: len(dataset[table]) for table in TABLES}


def default_output(generated_dir: Path, orders: int, seed: int, as_of: date) -> Path:
    """The folder under `generated_dir` (settings: `source.generated_dir`) named by what fixes its bytes."""
    return generated_dir / f"orders-{orders}-seed-{seed}-as-of-{as_of.isoformat()}"
