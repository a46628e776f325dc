"""The results folder is owned: marker, staging, a commit that survives a kill at any step, one writer."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest
from builders import basic_audit
from safety_tools import leftovers, manifest, snapshot
from typer.testing import CliRunner

from uspec_audit.cli.app import app
from uspec_audit.results.folder import MARKER, ResultsFolder
from uspec_audit.results.staging import JOURNAL, Staging, commit_operations, recover

runner = CliRunner()


def _run(audit, *extra):
    result = runner.invoke(app, ["run", str(audit), *extra])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def two_runs(digits_world, tmp_path_factory):
    """A results folder after one run (with reports), and the staged results of a second, different run."""
    folder = tmp_path_factory.mktemp("two-runs")
    audit = basic_audit(digits_world, folder)
    _run(audit)
    first = snapshot(folder / "results")
    other = tmp_path_factory.mktemp("other")
    second_audit = basic_audit(digits_world, other, extra="contract = { max_sd_ratio = 1000.0 }")
    _run(second_audit, "--no-reports")
    second = snapshot(other / "results")
    return first, second


def _write(folder, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def test_new_folder_gets_the_marker_and_owns_its_files(two_runs, tmp_path):
    first, _ = two_runs
    assert MARKER in first and json.loads(first[MARKER])["tool"] == "uspec-audit"
    listed = {f["path"] for f in json.loads(first["manifest.json"])["files"]}
    results = {name for name in first if not name.startswith(".") and name != "manifest.json"}
    assert listed == results  # the manifest names every result file, and only those


def _half_committed(first: dict, second: dict, out, stop: int | None) -> tuple[list, dict]:
    """``out`` holding the first run's results, the second run staged and its commit stopped after ``stop``
    file operations (a kill between two system calls); returns the operations and the journal."""
    out.mkdir()
    _write(out, first)
    (out / "notes.txt").write_text("the user's own file")
    staging = Staging(ResultsFolder(out))
    _write(staging.path, {k: v for k, v in second.items() if not k.startswith(".")})
    journal = {
        "format": 1,
        "staging": staging.path.name,
        "new": staging.files(),
        "old": ResultsFolder(out).owned_files(),
    }
    (out / JOURNAL).write_text(json.dumps(journal))
    operations = commit_operations(out, journal)
    for _, operation in operations[:stop]:
        operation()
    return operations, journal


def _results(state: dict) -> dict:
    return {k: v for k, v in state.items() if not k.startswith(".") and k != "notes.txt"}


def test_commit_killed_after_any_step_recovers(two_runs, tmp_path):
    """Kill the commit after every possible number of steps, then let the next command recover: whatever
    claims to be complete is exactly one run's results, in between there is no manifest, and recovery
    always ends with the new complete results, the user's file untouched and nothing left over."""
    first, second = two_runs
    steps = len(_half_committed(first, second, tmp_path / "count", 0)[0])
    assert steps >= 5
    for stop in range(steps + 1):
        out = tmp_path / f"stop-{stop}"
        _half_committed(first, second, out, stop)
        state = snapshot(out)
        if "manifest.json" in state:
            assert _results(state) in (_results(first), _results(second)), stop
        notes = recover(ResultsFolder(out))
        assert ("finished" in notes[0]) if stop < steps else not notes, (
            stop
        )  # the last step removes the journal
        after = snapshot(out)
        assert _results(after) == _results(second) and after["notes.txt"] == b"the user's own file", stop
        assert not leftovers(out), stop


def test_a_forged_journal_cannot_reach_other_files(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / MARKER).write_text(json.dumps({"tool": "uspec-audit"}))
    (tmp_path / "precious.txt").write_text("keep")
    (out / "mine.csv").write_text("keep")
    staging = out / ".staging-abc"
    staging.mkdir()
    (staging / "manifest.json").write_text("{}")
    (out / JOURNAL).write_text(
        json.dumps(
            {
                "format": 1,
                "staging": ".staging-abc",
                "new": ["manifest.json"],
                "old": ["../precious.txt", "mine.csv", ".cache", "/etc/hostname"],
            }
        )
    )
    recover(ResultsFolder(out))
    assert (tmp_path / "precious.txt").read_text() == "keep" and (out / "mine.csv").read_text() == "keep"
    bad = out / JOURNAL
    bad.write_text(json.dumps({"format": 1, "staging": "../../somewhere", "new": [], "old": []}))
    from uspec_audit.errors import AuditFileError

    with pytest.raises(AuditFileError, match="journal is damaged"):
        recover(ResultsFolder(out))


def test_a_forged_manifest_cannot_make_a_run_delete_other_files(digits_world, tmp_path):
    audit = basic_audit(digits_world, tmp_path)
    _run(audit, "--no-reports")
    out = tmp_path / "results"
    (out / "keep.txt").write_text("the user's")
    (tmp_path / "outside.txt").write_text("the user's")
    data = manifest(out)
    data["files"] += [{"path": "keep.txt"}, {"path": "../outside.txt"}, {"path": ".uspec-audit"}]
    (out / "manifest.json").write_text(json.dumps(data))
    _run(audit, "--no-reports")
    assert (out / "keep.txt").exists() and (tmp_path / "outside.txt").exists() and (out / MARKER).exists()


def test_a_run_replaces_only_its_own_files(digits_world, tmp_path):
    audit = basic_audit(digits_world, tmp_path)
    _run(audit)  # with reports
    out = tmp_path / "results"
    for report in (
        "report.html",
        "report.md",
    ):  # rendered in the staging folder, they name the results folder
        assert ".staging-" not in (out / report).read_text(), report
    (out / "my-notes.md").write_text("mine")
    (out / "predictions" / "README").write_text("mine too")
    _run(audit, "--no-reports")
    assert not (out / "report.html").exists()  # the stale report of the previous run is not left behind
    assert (out / "my-notes.md").read_text() == "mine" and (
        out / "predictions" / "README"
    ).read_text() == "mine too"
    assert not leftovers(out)


def test_a_user_file_with_a_result_name_is_never_overwritten(digits_world, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / MARKER).write_text(json.dumps({"tool": "uspec-audit"}))
    (out / "summary.parquet").write_text("the user's")
    result = runner.invoke(app, ["run", str(basic_audit(digits_world, tmp_path)), "--no-reports"])
    assert result.exit_code == 2 and "which uspec-audit did not write" in result.output
    assert (out / "summary.parquet").read_text() == "the user's" and not leftovers(out)


def test_a_folder_of_the_first_release_is_adopted(digits_world, tmp_path):
    audit = basic_audit(digits_world, tmp_path)
    _run(audit, "--no-reports")
    out = tmp_path / "results"
    (out / MARKER).unlink()
    data = manifest(out)
    del data["files"]
    (out / "manifest.json").write_text(json.dumps(data))
    _run(audit, "--no-reports")
    assert (out / MARKER).exists() and "files" in manifest(out)


def test_report_finishes_an_interrupted_commit(two_runs, tmp_path):
    first, second = two_runs
    out = tmp_path / "results"
    _half_committed(first, second, out, 5)  # killed mid-commit: no manifest
    assert not (out / "manifest.json").exists()
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert "the move was finished" in " ".join(result.output.split()) and not leftovers(out)
    assert (out / "manifest.json").read_bytes() == second["manifest.json"]


def test_result_files_follow_the_umask(digits_world, tmp_path):
    """0644 under umask 022 (not mkstemp's 0600), 0640 under umask 027: results, cache, predictions, reports."""
    audit = basic_audit(digits_world, tmp_path)
    for mask, mode in ((0o022, 0o644), (0o027, 0o640)):
        out = tmp_path / f"umask-{mask:o}"
        done = subprocess.run(
            [sys.executable, "-m", "uspec_audit", "run", str(audit), "--out", str(out)],
            capture_output=True,
            text=True,
            preexec_fn=lambda m=mask: os.umask(m),
        )
        assert done.returncode == 0, done.stderr
        files = [p for p in out.rglob("*") if p.is_file()]
        kinds = {p.suffix for p in files}
        assert {".parquet", ".json", ".html", ".md", ".unit"} <= kinds
        wrong = {
            str(p.relative_to(out)): oct(stat.S_IMODE(p.stat().st_mode))
            for p in files
            if stat.S_IMODE(p.stat().st_mode) != mode
        }
        assert not wrong, (oct(mask), wrong)


def test_second_run_on_the_same_folder_names_the_holder(digits_world, tmp_path):
    audit = basic_audit(digits_world, tmp_path)
    audit.write_text(audit.read_text().replace("batch_size = 128", "batch_size = 4"))
    first = subprocess.Popen(
        [sys.executable, "-m", "uspec_audit", "run", str(audit), "--fresh", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lock = tmp_path / "results" / ".uspec-audit.lock"
    deadline = time.time() + 60
    while time.time() < deadline and not (lock.exists() and str(first.pid) in lock.read_text()):
        time.sleep(0.02)
    second = runner.invoke(app, ["run", str(audit), "--no-reports"])
    still_running = first.poll() is None
    out, err = first.communicate()
    assert first.returncode == 0, err
    if not still_running:
        pytest.skip("the first run finished before the second started")
    assert second.exit_code == 2, second.output
    assert f"pid {first.pid}" in second.output and "--wait" in second.output
    waited = runner.invoke(app, ["run", str(audit), "--no-reports", "--wait"])
    assert waited.exit_code == 0, waited.output


def test_kill_9_at_random_moments_never_leaves_a_false_complete(digits_world, tmp_path):
    """SIGKILL a real run at several moments; after each, the folder is the previous complete results or
    the new ones (or has no manifest), and the next command recovers it."""
    audit = basic_audit(digits_world, tmp_path)
    _run(audit, "--no-reports")
    out = tmp_path / "results"
    previous = {k: v for k, v in snapshot(out).items() if not k.startswith(".")}
    for delay in (0.5, 1.5, 2.5, 3.5, 4.5):
        process = subprocess.Popen(
            [sys.executable, "-m", "uspec_audit", "run", str(audit), "--fresh"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        state = {k: v for k, v in snapshot(out).items() if not k.startswith(".")}
        if "manifest.json" in state:
            names = {f["path"] for f in json.loads(state["manifest.json"])["files"]} | {"manifest.json"}
            assert set(state) == names, delay  # complete means every listed file, and nothing stale
            assert state == previous or all(
                _sha(state[f["path"]]) == f["sha256"] for f in json.loads(state["manifest.json"])["files"]
            )
        report = runner.invoke(app, ["report", str(out)])  # finishes a commit the kill interrupted
        assert report.exit_code == 0, (delay, report.output)
        assert not (out / JOURNAL).exists()
    _run(audit, "--no-reports")  # removes what the killed runs staged
    assert not leftovers(out)


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
