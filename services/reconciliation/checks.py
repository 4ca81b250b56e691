"""What reconciliation reports: one check per table and hop, and the error listing those that differ."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.table import Table as RichTable

from services.reconciliation.sides import Fingerprint


@dataclass(frozen=True)
class Check:
    table: str
    hop: str
    got: Fingerprint
    expected: Fingerprint
    note: str = ""
    differences: list[str] = field(default_factory=list)
    error: str | None = None  # the table could not be compared at all: why

    @property
    def ok(self) -> bool:
        return self.error is None and self.got == self.expected


class ReconciliationError(RuntimeError):
    def __init__(self, checks: list[Check]) -> None:
        self.checks = checks
        bad = [c for c in checks if not c.ok]
        lines = [f"{len(bad)} of {len(checks)} reconciliation checks differ:"]
        for c in bad:
            if c.error:
                lines.append(f"- {c.table}: could not be compared: {c.error}")
                continue
            lines.append(
                f"- {c.table} at {c.hop}: {c.got.rows:,} rows (checksum {c.got.checksum:016x}), expected "
                f"{c.expected.rows:,} (checksum {c.expected.checksum:016x}){' - ' + c.note if c.note else ''}"
            )
            lines += [f"    {d}" for d in c.differences]
        super().__init__("\n".join(lines))


def as_table(checks: list[Check]) -> RichTable:
    table = RichTable("table", "hop", "rows", "checksum", "expected rows", "status", title="Reconciliation")
    for c in checks:
        status = "[green]ok" if c.ok else f"[red]NOT COMPARED: {c.error}" if c.error else "[red]DIFFERS"
        table.add_row(c.table, c.hop, f"{c.got.rows:,}", f"{c.got.checksum:016x}", f"{c.expected.rows:,}", status)
    return table
