"""Charts tell time honestly: a day or month without data is a gap, not a line across it;
heatmap labels appear only where they fit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from services.dashboard.charts import cohort_retention, daily_revenue, labels_fit, payment_failures, with_gaps
from services.dashboard.queries import Rows


def day(order_date: date, revenue: str) -> dict:
    amount = Decimal(revenue)
    return {"order_date": order_date, "orders": 1, "revenue": amount, "average_order_value": amount,
            "cumulative_revenue": amount}  # fmt: skip


def test_missing_days_break_the_revenue_line() -> None:
    figure = daily_revenue(Rows([day(date(2026, 3, 1), "10"), day(date(2026, 3, 4), "5")]))
    revenue = figure["data"][0]
    assert revenue["x"] == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    assert revenue["y"] == [10.0, None, None, 5.0]
    assert figure["data"][1]["y"][1:3] == [None, None]
    assert not revenue.get("connectgaps")


def test_missing_months_break_a_failure_rate_line() -> None:
    rows = [
        {"month": date(2025, 11, 1), "payment_method": "card", "failures": 1, "attempts": 10, "failure_rate": 0.1},
        {"month": date(2026, 2, 1), "payment_method": "card", "failures": 2, "attempts": 10, "failure_rate": 0.2},
    ]
    [card] = payment_failures(Rows(rows))["data"]
    assert card["x"] == ["2025-11-01", "2025-12-01", "2026-01-01", "2026-02-01"]
    assert card["y"] == [0.1, None, None, 0.2]


def test_gaps_are_only_between_rows() -> None:
    rows = [{"d": date(2026, 1, 30)}, {"d": date(2026, 2, 1)}]
    assert [r["d"] for r in with_gaps(rows, "d")] == [date(2026, 1, 30), date(2026, 1, 31), date(2026, 2, 1)]
    assert with_gaps([], "d") == []
    december = [{"m": date(2025, 12, 1)}, {"m": date(2026, 1, 1)}]
    assert [r["m"] for r in with_gaps(december, "m", monthly=True)] == [date(2025, 12, 1), date(2026, 1, 1)]


def test_heatmap_labels_only_where_they_fit() -> None:
    assert labels_fit(6, 6)
    assert not labels_fit(24, 6) and not labels_fit(6, 30)

    def cohorts(count: int) -> Rows:
        return Rows([
            {"cohort_month": date(2024 + (c // 12), c % 12 + 1, 1), "months_since_first_order": m, "cohort_size": 10,
             "customers": 5, "retention_rate": 0.5, "revenue": Decimal(1)}
            for c in range(count) for m in range(count - c)
        ])  # fmt: skip

    small, large = cohort_retention(cohorts(4))["data"][0], cohort_retention(cohorts(24))["data"][0]
    assert small["text"][0][0] == "50%"
    assert {cell for row in large["text"] for cell in row} == {""}
    assert "retained" in large["hovertemplate"]  # the values are still in the hover
