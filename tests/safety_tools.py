"""Helpers of the safety tests: the real CLI in a subprocess, folder snapshots, crafted hostile files."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

LOCK_FILES = (".uspec-audit.lock", ".uspec-audit.commit-lock")


def cli(
    *args: str, timeout: float = 300, env: dict | None = None, preexec_fn=None
) -> subprocess.CompletedProcess:
    """Run ``python -m uspec_audit ARGS`` (the console entry point, with its signal handling) to the end."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "uspec_audit", *args],
            capture_output=True,
            text=True,
            env=env,
            preexec_fn=preexec_fn,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as error:
        raise AssertionError(f"uspec-audit {' '.join(args)} did not finish in {timeout} s") from error


_LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def peak_rss_of(*args: str, timeout: float = 600) -> tuple[int, float, str]:
    """Run ``python -m uspec_audit ARGS``; return (exit code, that process's own peak RSS in MiB, stderr).

    The command is started by a small launcher process: Linux counts the memory a child had when it was
    forked (a copy of its parent) in its peak, and the test process is large; the launcher is not.
    """
    with tempfile.TemporaryDirectory() as scratch:
        record = Path(scratch) / "maxrss"
        done = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(record), sys.executable, "-m", "uspec_audit", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return done.returncode, int(record.read_text()) / 1024, done.stderr


def snapshot(folder: Path, cache: bool = False) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes: the results, and the prediction cache if ``cache`` (a run
    may legitimately refresh it); lock files are left out (they record their last holder)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in LOCK_FILES and (cache or ".cache" not in p.relative_to(folder).parts)
    }


def leftovers(folder: Path) -> list[str]:
    """Staging folders, journals and temporary files: what no finished command may leave behind."""
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.name.startswith(".staging-")
        or p.name.endswith(".tmp")
        or p.name == ".uspec-audit.commit"
        or p.name.startswith(".tmp-")
    )


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels but holds almost no data (a decompression bomb's
    header: decoders learn the size before reading any pixel)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def unshare_available() -> bool:
    """Whether this machine lets us make a private mount namespace (for real read-only and full disks)."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            "d=$(mktemp -d) && mount -t tmpfs -o size=64k none $d && umount $d && rmdir $d",
        ],
        capture_output=True,
    )
    return probe.returncode == 0


def in_private_mount(script: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a shell script in a private user+mount namespace (mounts there are invisible elsewhere)."""
    return subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def torch_payload(command: str) -> bytes:
    """A torch.save pickle that runs ``command`` when unpickled without weights_only."""
    import torch

    class Payload:
        def __reduce__(self):
            return (os.system, (command,))

    buffer = io.BytesIO()
    torch.save(Payload(), buffer)
    return buffer.getvalue()
