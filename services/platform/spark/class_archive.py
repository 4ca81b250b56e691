"""A class-data-sharing archive of the Spark driver's classes, so a Spark process starts warm.

A cold Spark JVM spends seconds finding, parsing and verifying some 20,000 classes in 300
jars; at a silver tick that is a fifth of the run. The JDK's application class-data sharing
(AppCDS) keeps those classes, parsed and verified, in one file that the next JVM maps at start
(measured: a 10k-change tick 22 -> 18 s, the session start 4 -> 3 s).

The archive is recorded by the first Spark process that finds none (`-XX:ArchiveClassesAtExit`):
the JVM writes it while it exits, which makes that one exit some 10 s longer; the process waits
for it and only then puts the file in place, so no JVM ever maps a half-written archive. A lock
lets one process record while others run without an archive. Every later process maps it
(`-XX:SharedArchiveFile`). The file name holds a fingerprint of Java and the jars, so an upgrade
records a new archive; the JVM checks it again and runs without it if anything differs. Delete
`archive_dir()` to record afresh.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import IO

from services.platform.local import toolchain

log = logging.getLogger(__name__)

# The JVM's CDS messages (classes it cannot archive, an archive it cannot use) are not the
# user's business: without an archive Spark only starts slower.
QUIET = "-Xlog:cds*=off"
RECORDING_TIMEOUT_SECONDS = 300

_recording: tuple[IO[str], Path, Path] | None = None  # (lock file, partial archive, archive)


def archive_dir() -> Path:
    return toolchain.install_folder("class-archives")


def archive_path(java_home: Path, jars: list[Path]) -> Path:
    """The archive for this Java and these jars (named by their paths, sizes and times)."""
    release = java_home / "release"
    java = str(java_home.resolve()).encode() + (release.read_bytes() if release.exists() else b"")
    return archive_dir() / f"spark-classes-{toolchain.fingerprint(jars, java)}.jsa"


def java_options(archive: Path) -> list[str]:
    """The JVM options that map `archive`, or record it when it does not exist yet; none where
    the JDK has no base archive to extend (the JVM would refuse them and not start)."""
    global _recording
    if not toolchain.base_class_archive().exists():
        return []
    if archive.exists():
        return [f"-XX:SharedArchiveFile={archive}", QUIET]
    if _recording is not None:  # this process's JVM is recording already
        return []
    archive.parent.mkdir(parents=True, exist_ok=True)
    lock = archive.with_suffix(".lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return []  # another process is recording it; this one starts without
    for stale in archive.parent.glob("*.partial"):  # left by recorders killed before they kept theirs
        stale.unlink(missing_ok=True)
    partial = archive.with_suffix(f".{os.getpid()}.partial")  # a killed recorder's JVM may still write its own
    _recording = (lock, partial, archive)
    return [f"-XX:ArchiveClassesAtExit={partial}", QUIET]


def keep_when_jvm_exits(jvm: subprocess.Popen[bytes] | None) -> None:
    """If this process records the archive, move it in place once `jvm` has exited and written it.

    The JVM exits when its stdin closes (PySpark's design); this waits for that at
    interpreter exit, so the archive is complete before anyone can map it.
    """
    if _recording is None or jvm is None:
        return
    atexit.register(_wait_and_keep, jvm)


def _wait_and_keep(jvm: subprocess.Popen[bytes]) -> None:
    assert _recording is not None
    lock, partial, archive = _recording
    try:
        if jvm.stdin is not None:
            jvm.stdin.close()
        print("Spark: recording the class archive for faster starts (once) ...", file=sys.stderr, flush=True)
        jvm.wait(timeout=RECORDING_TIMEOUT_SECONDS)
        if partial.exists() and partial.stat().st_size > 0:
            partial.replace(archive)
            log.info("class archive recorded: %s", archive)
            for stale in archive.parent.glob("spark-classes-*"):  # for jars or a Java no longer installed
                if stale.stem != archive.stem:
                    stale.unlink(missing_ok=True)
    except subprocess.TimeoutExpired:
        log.warning("the JVM did not exit within %s s; no class archive recorded", RECORDING_TIMEOUT_SECONDS)
    finally:
        partial.unlink(missing_ok=True)
        lock.close()
