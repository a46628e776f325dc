"""A real Ray cluster for the executor tests: ``ray start --head`` on this machine, always stopped.

The cluster runs with ``--block`` in its own process group, so stopping it is
one SIGTERM to the process we started (Ray drains and stops its daemons);
whatever is still alive after that is killed by process id. Memory is kept
modest (a 128 MB object store), and Ray's usage statistics are off.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

TESTS = str(Path(__file__).resolve().parents[1])  # tests/builders.py holds the factories the tests allow
RAY_REQUIRED = os.environ.get("USPEC_AUDIT_REQUIRE_RAY") == "1"  # CI: a missing Ray is a failure, not a skip


def ray_or_skip():
    try:
        import ray
    except ImportError:
        if RAY_REQUIRED:
            pytest.fail("Ray is not installed but USPEC_AUDIT_REQUIRE_RAY=1 (pip install -e '.[dev]')")
        pytest.skip("Ray is not installed (pip install 'uspec-audit[ray]')")
    return ray


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _processes_under(folder: str) -> list[int]:
    """Processes whose command line names ``folder`` (the cluster's own temp dir): ours to stop."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if folder in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren...)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class HeadNode:
    """A running ``ray start --head`` cluster: its address and the process that owns it."""

    def __init__(self, process: subprocess.Popen, address: str, temp_dir: str):
        self.process, self.address, self.temp_dir = process, address, temp_dir


@pytest.fixture(scope="session")
def ray_head():
    """A 2-CPU head node joined by address (``--address 127.0.0.1:PORT``); stopped even when tests fail."""
    ray_or_skip()
    ray_bin = Path(sys.executable).parent / "ray"
    temp_dir = tempfile.mkdtemp(prefix="uray-", dir="/tmp")  # short: Ray's socket paths have a length limit
    port = _free_port()
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "disabled",
        "RAY_USAGE_STATS_ENABLED": "0",
        "PYTHONPATH": os.pathsep.join(filter(None, [TESTS, os.environ.get("PYTHONPATH")])),
    }  # builders: factories
    log = open(Path(temp_dir) / "start.log", "w")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen(
        [
            str(ray_bin),
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--num-cpus=2",
            "--num-gpus=0",
            "--object-store-memory=134217728",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp_dir}",
            "--node-ip-address=127.0.0.1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    pidfile = os.environ.get("USPEC_AUDIT_RAY_PIDFILE")  # CI's trap stops the group even if pytest dies
    if pidfile:
        Path(pidfile).write_text(str(process.pid))
    try:
        address = f"127.0.0.1:{port}"
        deadline = time.time() + 90
        while time.time() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"ray start exited: {(Path(temp_dir) / 'start.log').read_text()[-2000:]}")
            if "block forever" in (Path(temp_dir) / "start.log").read_text():
                break
            time.sleep(0.5)
        else:
            raise RuntimeError("ray start --head did not come up within 90 s")
        yield HeadNode(process, address, temp_dir)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=45)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        for pid in _processes_under(temp_dir):  # anything the drain left behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
        if pidfile:
            Path(pidfile).write_text("")
