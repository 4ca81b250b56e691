"""The import rules the layout promises (README, Layout), checked on every file's own imports.

Data moves one way and the batch and real-time paths share only platform code; a stage that
reached into another's internals would bind their changes together, so a new import that
breaks a rule fails here with the file and the import named.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from services.platform.settings import PROJECT_ROOT

STAGES = ("source", "replication", "lakehouse", "streaming", "warehouse", "reconciliation", "dashboard")
# (importing package, imported package): never
NEVER = {
    ("services.lakehouse", "services.streaming"): "the batch and real-time paths share only platform code",
    ("services.streaming", "services.lakehouse"): "the batch and real-time paths share only platform code",
    ("services.replication", "services.lakehouse"): "data moves one way",
    **{("services.platform", f"services.{stage}"): "the platform imports no stage" for stage in STAGES},
    ("services.platform", "flows"): "the platform imports no flow",
    **{
        ("services.source", f"services.{stage}"): "the source knows nothing downstream"
        for stage in STAGES
        if stage != "source"
    },
    **{(f"services.{stage}", "flows"): "stages know nothing of the orchestrator" for stage in STAGES},
}


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, at any depth (lazy imports included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from a.b import c` may import module a.b.c: both count
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def module_of(path: Path) -> str:
    return ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_no_import_breaks_a_layout_rule() -> None:
    broken = []
    for path in sorted([*(PROJECT_ROOT / "services").rglob("*.py"), *(PROJECT_ROOT / "flows").rglob("*.py")]):
        if "node_modules" in path.parts:
            continue
        importer = module_of(path)
        for line, imported in imports_of(path):
            for (source, target), why in NEVER.items():
                if _within(importer, source) and _within(imported, target):
                    broken.append(f"{path.relative_to(PROJECT_ROOT)}:{line} imports {imported}: {why}")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("stage", ["source", "replication", "lakehouse", "streaming", "warehouse"])
def test_every_stage_has_one_entry_its_command_and_task_call(stage: str) -> None:
    """`sandbox <stage>` and the Prefect tasks call `services/<stage>/stage.py`, not their own wiring."""
    entry = f"services.{stage}.stage"
    assert (PROJECT_ROOT / "services" / stage / "stage.py").is_file()
    for caller in (PROJECT_ROOT / "services" / stage / "cli.py", PROJECT_ROOT / "flows" / "tasks.py"):
        assert any(_within(imported, entry) for _, imported in imports_of(caller)), f"{caller.name} skips {entry}"
