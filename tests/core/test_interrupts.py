"""Ctrl-C at any moment of a real run: exit 130, the resume message, no traceback, nothing half-committed."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from builders import basic_audit
from safety_tools import leftovers, snapshot

RESUME = "run the same command again to resume"


def _staged(out, name: str) -> bool:
    return any(glob.glob(f"{folder}/{name}") for folder in glob.glob(str(out / ".staging-*")))


# moment -> condition on the results folder that says the run has reached it
MOMENTS = {
    "inference": lambda out: bool(glob.glob(str(out / ".cache" / "predictions" / "*.unit"))),
    "writing predictions": lambda out: _staged(out, "predictions"),
    "report rendering": lambda out: _staged(out, "manifest.json"),
    "PDF (weasyprint)": lambda out: _staged(out, "report.html"),
}


@pytest.fixture(scope="module")
def audit_with_results(digits_world, tmp_path_factory):
    folder = tmp_path_factory.mktemp("interrupts")
    audit = basic_audit(digits_world, folder)
    audit.write_text(audit.read_text().replace("batch_size = 128", "batch_size = 16"))
    done = subprocess.run(
        [sys.executable, "-m", "uspec_audit", "run", str(audit), "--no-reports"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return audit, folder / "results"


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_ctrl_c_at_each_moment(audit_with_results, moment):
    audit, out = audit_with_results
    before = snapshot(out)
    for unit in glob.glob(str(out / ".cache" / "predictions" / "*.unit")):  # recompute: reach inference again
        os.unlink(unit)
    process = subprocess.Popen(
        [sys.executable, "-m", "uspec_audit", "run", str(audit), "--pdf"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reached, deadline = MOMENTS[moment], time.time() + 120
    while process.poll() is None and time.time() < deadline and not reached(out):
        time.sleep(0.005)
    if process.poll() is not None:
        pytest.skip(f"the run finished before reaching {moment}")
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, (moment, stderr[-2000:])
    assert (
        RESUME in " ".join(stderr.split()) and "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    )
    assert snapshot(out) == before, moment  # the previous complete results, byte for byte
    assert not leftovers(out), moment


def test_ctrl_c_in_json_mode_is_json(audit_with_results):
    audit, out = audit_with_results
    for unit in glob.glob(str(out / ".cache" / "predictions" / "*.unit")):
        os.unlink(unit)
    process = subprocess.Popen(
        [sys.executable, "-m", "uspec_audit", "run", str(audit), "--json", "--fresh"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while process.poll() is None and time.time() < deadline and not MOMENTS["inference"](out):
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the run finished before the signal")
    assert process.returncode == 130
    assert json.loads(stdout.strip().splitlines()[-1])["kind"] == "Interrupted"
