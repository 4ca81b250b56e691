"""A headless Chromium for Playwright, with no browser download from Playwright's CDN.

The browser tests run under each build: `/usr/bin/chromium` when the machine has one (Debian's
`chromium` package), and always the pinned npm package
`@sparticuz/chromium` (tests/dashboard/browser/package.json + package-lock.json), installed
with `npm ci` on first use and unpacked by its own `executablePath()` into a folder inside
node_modules named after its version (git-ignored, private to this checkout, not /tmp).
Its Amazon Linux libraries are unpacked and put on LD_LIBRARY_PATH only when the binary
misses shared libraries on this machine.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from services.platform.local.toolchain import node_bin, npm

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
PACKAGE = "@sparticuz/chromium"
SYSTEM_CHROMIUM = Path("/usr/bin/chromium")
# Not --single-process: with it, closing a page takes the whole browser down.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--no-zygote",
    "--disable-gpu",
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Unpacks the binary (and, when asked, the AL2023 libraries) into os.tmpdir(), i.e. $TMPDIR.
UNPACK = """
import("@sparticuz/chromium").then(async ({ default: chromium, inflate }) => {
  const path = await chromium.executablePath();
  if (process.env.SANDBOX_UNPACK_LIBS) await inflate(process.env.SANDBOX_UNPACK_LIBS);
  console.log(path);
});
"""


@dataclass(frozen=True)
class Chromium:
    executable: Path
    env: dict[str, str] = field(default_factory=dict)  # extra environment for the browser process


def _pinned_version() -> str:
    return json.loads((BROWSER_DIR / "package.json").read_text())["dependencies"][PACKAGE]


def _installed_version() -> str | None:
    manifest = BROWSER_DIR / "node_modules" / PACKAGE / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.exists() else None


def _node_env() -> dict[str, str]:
    node = node_bin()
    return {**os.environ, "PATH": f"{node.parent}{os.pathsep}{os.environ.get('PATH', '')}"}


@contextmanager
def _locked() -> Iterator[None]:
    """One installer at a time (parallel test runs share the folder)."""
    digest = hashlib.sha256(str(BROWSER_DIR).encode()).hexdigest()[:12]
    with (Path(tempfile.gettempdir()) / f"sandbox-dashboard-chromium-{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _missing_libraries(executable: Path) -> list[str]:
    result = subprocess.run(["ldd", str(executable)], capture_output=True, text=True, check=False)
    return [line.split()[0] for line in result.stdout.splitlines() if "not found" in line]


def _unpack(target: Path, libs: bool = False) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    env = _node_env() | {"TMPDIR": str(target)}
    if libs:
        env["SANDBOX_UNPACK_LIBS"] = str(BROWSER_DIR / "node_modules" / PACKAGE / "bin" / "al2023.tar.br")
    result = subprocess.run(
        [str(node_bin()), "-e", UNPACK], cwd=BROWSER_DIR, env=env, capture_output=True, text=True, check=True
    )
    return Path(result.stdout.strip().splitlines()[-1])


def npm_chromium() -> Chromium:
    """Install the pinned npm package if needed and unpack its browser once."""
    pinned = _pinned_version()
    with _locked():
        if _installed_version() != pinned:
            npm(["ci", "--no-audit", "--no-fund", "--loglevel=error"], BROWSER_DIR)
        target = BROWSER_DIR / "node_modules" / f".chromium-{pinned}"
        executable = target / "chromium"
        if not executable.exists():  # unpacked beside, then renamed: never a half-written browser
            partial = target.with_name(f"{target.name}.partial")
            shutil.rmtree(partial, ignore_errors=True)
            unpacked = _unpack(partial)
            if unpacked != partial / "chromium":
                raise RuntimeError(f"{PACKAGE} unpacked its browser to {unpacked}, not into {partial}")
            partial.rename(target)
        if not _missing_libraries(executable):
            return Chromium(executable)
        _unpack(target, libs=True)
        lib = target / "al2023" / "lib"
        return Chromium(executable, {"LD_LIBRARY_PATH": f"{lib}{os.pathsep}{os.environ.get('LD_LIBRARY_PATH', '')}"})


BUILDS = ("npm", "system")  # the pinned npm build; the distribution's package (Debian: apt install chromium)


def find_chromium(build: str) -> Chromium | None:
    """The Chromium of `build`; None for the system's when the machine has none."""
    if build == "system":
        return Chromium(SYSTEM_CHROMIUM) if SYSTEM_CHROMIUM.exists() else None
    return npm_chromium()
