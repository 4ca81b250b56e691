"""Reconciliation reports on every table: one it cannot compare is a named failure, never a crash."""

from __future__ import annotations

import pyarrow as pa
import pytest

from services.reconciliation import reconcile
from services.reconciliation.checks import Check, ReconciliationError
from services.reconciliation.sides import Fingerprint

SAME = Fingerprint(3, 7)


def test_a_table_that_cannot_be_compared_is_named_and_the_others_are_reported(monkeypatch) -> None:
    def checks_of(settings, table, raw, manifests) -> list[Check]:
        if table.name == "clash":
            raise pa.ArrowInvalid("Multiple matches for FieldRef.Name(_lsn)")
        return [Check(table.name, "raw", SAME, SAME)]

    monkeypatch.setattr(reconcile, "table_checks", checks_of)
    tables = [
        reconcile.SourceTable("shop", "orders", "orders", ["order_id"], []),
        reconcile.SourceTable("shop", "clash", "clash", ["id"], []),
        reconcile.SourceTable("shop", "audit_log", "audit_log", [], []),
    ]
    checks = [c for t in tables for c in reconcile._checks_or_failure(None, t, None, [])]
    assert [(c.table, c.ok) for c in checks] == [("orders", True), ("clash", False), ("audit_log", False)]
    assert checks[1].error == "ArrowInvalid: Multiple matches for FieldRef.Name(_lsn)"
    assert checks[2].error.startswith("no primary key at the source")
    with pytest.raises(ReconciliationError) as raised:
        raise ReconciliationError(checks)
    assert "- clash: could not be compared: ArrowInvalid" in str(raised.value)
    assert "- audit_log: could not be compared: no primary key" in str(raised.value)
