"""Re-runs are cheap: statistics and reports are cached by the content of their inputs, settings and code.

An unchanged re-run reuses both and writes byte-identical tables and reports; a changed setting, changed
predictions or a damaged entry recomputes (the damaged entry with a notice); ``--fresh`` recomputes; the
entries are listed and pruned by ``uspec-audit cache``. (A metric plugin's code change:
tests/plugins/test_rerun_metric_plugin.py.)
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from builders import basic_audit
from safety_tools import leftovers
from typer.testing import CliRunner

from uspec_audit.cli.app import app
from uspec_audit.engine.bundle_cache import (
    REPORTS,
    STATISTICS,
    Bundle,
    BundleCache,
    DamagedBundle,
    verify_bundle,
)
from uspec_audit.engine.cache import PredictionCache

runner = CliRunner()
KEY = "c" * 64


def _damage(path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif how == "one byte flipped":
        data[len(data) * 2 // 3] ^= 0x10
        path.write_bytes(bytes(data))
    elif how == "garbage":
        path.write_bytes(np.random.default_rng(1).integers(0, 256, len(data), np.uint8).tobytes())
    elif how == "empty":
        path.write_bytes(b"")


def test_a_bundle_round_trips_exactly_and_the_same_bundle_gives_the_same_bytes(tmp_path):
    bundle = Bundle(
        {"key": KEY, "notes": ["a note"]}, {"summary.parquet": b"\x00\x01 table", "report.md": b"# r"}
    )
    cache = BundleCache(tmp_path, STATISTICS)
    assert cache.put(KEY, bundle)
    path = tmp_path / ".cache" / "statistics" / f"{KEY}.stats"
    first = path.read_bytes()
    back = BundleCache(tmp_path, STATISTICS).get(KEY)
    assert back == bundle
    cache.put(KEY, bundle)
    assert path.read_bytes() == first
    assert BundleCache(tmp_path, STATISTICS, enabled=False).get(KEY) is None  # --fresh reads nothing
    assert BundleCache(tmp_path, REPORTS).get(KEY) is None  # the stores do not mix


@pytest.mark.parametrize("how", ["truncated", "one byte flipped", "garbage", "empty"])
def test_a_damaged_bundle_is_reported_removed_and_never_used(tmp_path, how):
    BundleCache(tmp_path, REPORTS).put(KEY, Bundle({"key": KEY}, {"report.md": b"x" * 5000}))
    path = tmp_path / ".cache" / "reports" / f"{KEY}.reports"
    _damage(path, how)
    with pytest.raises(DamagedBundle):
        verify_bundle(path)
    cache = BundleCache(tmp_path, REPORTS)
    assert cache.get(KEY) is None
    assert len(cache.warnings) == 1 and "damaged" in cache.warnings[0] and path.name in cache.warnings[0]
    assert not path.exists()


def test_an_entry_that_cannot_be_written_is_a_warning(tmp_path):
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "statistics").write_text("a file where the folder should be")
    cache = BundleCache(tmp_path, STATISTICS)
    assert not cache.put(KEY, Bundle({"key": KEY}))
    assert "could not be stored" in cache.warnings[0]


def _run(audit, *args):
    result = runner.invoke(app, ["run", str(audit), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _manifest(out) -> dict:
    return json.loads((out / "manifest.json").read_text())


def _tables(out) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.parquet"))}


@pytest.fixture
def world_audit(digits_world, tmp_path):
    return basic_audit(digits_world, tmp_path), tmp_path / "results"


def test_an_unchanged_rerun_reuses_the_statistics_and_writes_byte_identical_tables(world_audit):
    audit, out = world_audit
    first = _run(audit, "--no-reports")
    manifest = _manifest(out)
    assert manifest["statistics_reused"] is False and len(manifest["statistics_key"]) == 64
    assert (out / ".cache" / "statistics" / f"{manifest['statistics_key']}.stats").is_file()
    tables = _tables(out)
    assert set(tables) >= {"summary.parquet", "metrics.parquet", "differences.parquet", "contracts.parquet"}

    second = _run(audit, "--no-reports")
    again = _manifest(out)
    assert again["statistics_reused"] is True and again["statistics_key"] == manifest["statistics_key"]
    assert _tables(out) == tables  # byte-identical
    assert second["summary"] == first["summary"] and second["contracts"] == first["contracts"]
    assert second["warnings"] == first["warnings"]  # the analysis' notes too
    files = {f["path"]: f["sha256"] for f in again["files"]}
    assert all(files[name] == hashlib.sha256(data).hexdigest() for name, data in tables.items())
    assert not leftovers(out)

    fresh = _run(audit, "--no-reports", "--fresh")
    assert _manifest(out)["statistics_reused"] is False and fresh["timings"]["units_reused"] == 0
    assert _tables(out) == tables  # recomputed: the same bytes


@pytest.mark.parametrize(
    "setting",
    [
        {"analysis": "alpha = 0.1"},
        {"analysis": "seed_offset = 1"},
        {"analysis": "max_carry_over_slope = 2.0"},
        {"extra": "contract = { min_mean = { accuracy = 0.01 } }"},
    ],
)
def test_a_changed_setting_recomputes_the_statistics(digits_world, tmp_path, setting):
    audit = basic_audit(digits_world, tmp_path)
    out = tmp_path / "results"
    _run(audit, "--no-reports")
    before = _manifest(out)
    changed = basic_audit(digits_world, tmp_path, **setting)
    _run(changed, "--no-reports")
    after = _manifest(out)
    assert after["timings"]["units_computed"] == 0  # the predictions are reused...
    assert (
        after["statistics_reused"] is False and after["statistics_key"] != before["statistics_key"]
    )  # ...not these
    _run(changed, "--no-reports")
    assert _manifest(out)["statistics_reused"] is True


def test_changed_predictions_of_one_member_recompute_the_statistics(world_audit):
    audit, out = world_audit
    _run(audit, "--no-reports")
    before, tables = _manifest(out), _tables(out)
    # Rewrite one unit under its own key with one member's probabilities changed (a valid, checksummed entry:
    # what a nondeterministic recomputation could leave). The statistics key covers the payload's sha256.
    cache = PredictionCache(out / ".cache" / "predictions")
    key = before["units"][0]["key"]
    unit = cache.get(key)
    outputs = unit.outputs.copy()
    outputs[0] = outputs[0][:, ::-1]
    unit.outputs = outputs
    cache.put(key, unit)
    _run(audit, "--no-reports")
    after = _manifest(out)
    assert after["timings"]["units_computed"] == 0
    assert after["statistics_reused"] is False and after["statistics_key"] != before["statistics_key"]
    assert _tables(out)["metrics.parquet"] != tables["metrics.parquet"]


@pytest.mark.parametrize("how", ["truncated", "one byte flipped"])
def test_a_damaged_statistics_entry_is_recomputed_with_a_notice(world_audit, how):
    audit, out = world_audit
    _run(audit, "--no-reports")
    tables, key = _tables(out), _manifest(out)["statistics_key"]
    entry = out / ".cache" / "statistics" / f"{key}.stats"
    _damage(entry, how)
    result = _run(audit, "--no-reports")
    assert any("damaged" in w and entry.name in w for w in result["warnings"])
    assert _manifest(out)["statistics_reused"] is False and any(
        entry.name in n for n in _manifest(out)["notes"]
    )
    assert _tables(out) == tables and entry.is_file()  # recomputed, stored again
    _run(audit, "--no-reports")
    assert _manifest(out)["statistics_reused"] is True


def test_reports_are_rendered_once_then_reused_byte_identical(world_audit, monkeypatch):
    from uspec_audit.report import html

    calls = []
    real = html.build_html
    monkeypatch.setattr(html, "build_html", lambda *a, **k: calls.append(1) or real(*a, **k))
    audit, out = world_audit
    first = _run(audit, "--pdf")
    assert len(calls) == 1  # one HTML build serves the HTML and the PDF
    manifest = _manifest(out)
    assert sorted(manifest["reports"]) == ["report.html", "report.md", "report.pdf"]
    assert manifest["reports_reused"] is False and manifest["timings"]["reports_s"] > 0
    reports = {name: (out / name).read_bytes() for name in manifest["reports"]}
    assert manifest["report_source_sha256"][:16] in reports["report.md"].decode()  # what the reports cite

    second = _run(audit, "--pdf")
    again = _manifest(out)
    assert len(calls) == 1  # nothing rendered
    assert again["reports_reused"] is True and again["statistics_reused"] is True
    assert again["reports_key"] == manifest["reports_key"]
    assert {name: (out / name).read_bytes() for name in again["reports"]} == reports
    # The reused reports cite the manifest they were rendered from, and the manifest says so.
    assert again["report_source_sha256"] == manifest["report_source_sha256"]
    assert again["reports_rendered_at"] == manifest["reports_rendered_at"]
    files = {f["path"]: f["sha256"] for f in again["files"]}
    assert all(files[name] == hashlib.sha256(data).hexdigest() for name, data in reports.items())
    assert second["reports"] == first["reports"] and not leftovers(out)

    # A damaged entry: a notice, rendered again, never the damaged bytes.
    entry = out / ".cache" / "reports" / f"{manifest['reports_key']}.reports"
    _damage(entry, "one byte flipped")
    third = _run(audit, "--pdf")
    assert len(calls) == 2 and any("damaged" in w and entry.name in w for w in third["warnings"])
    assert _manifest(out)["reports_reused"] is False and entry.is_file()

    # Other formats are another key.
    _run(audit, "--no-reports")
    assert _manifest(out)["reports_key"] is None and _manifest(out)["reports"] == []


def test_cache_info_and_prune_cover_statistics_and_reports(world_audit):
    audit, out = world_audit
    _run(audit)  # markdown + html by default
    manifest = _manifest(out)
    (out / ".cache" / "statistics" / ("d" * 64 + ".stats")).write_bytes(b"statistics of an older audit")
    (out / ".cache" / "reports" / ".tmp-killed.reports").write_bytes(b"partial")
    (out / ".cache" / "reports" / "notes.txt").write_text("not ours")
    info = runner.invoke(app, ["cache", "info", str(out), "--json", "--verify"])
    assert info.exit_code == 0, info.output
    data = json.loads(info.output)
    assert data["stores"]["statistics"] == {
        "entries": 2,
        "referenced": 1,
        "bytes": data["stores"]["statistics"]["bytes"],
    }
    assert data["stores"]["reports"]["entries"] == 2 and data["stores"]["reports"]["referenced"] == 1
    assert data["stores"]["predictions"]["referenced"] == len(manifest["units"])
    assert data["damaged"] == ["d" * 64 + ".stats"]
    text = runner.invoke(app, ["cache", "info", str(out)])
    assert text.exit_code == 0 and "statistics" in text.output and "reports" in text.output
    pruned = runner.invoke(app, ["cache", "prune", str(out), "--json"])
    assert sorted(json.loads(pruned.output)["removed"]) == [".tmp-killed.reports", "d" * 64 + ".stats"]
    assert (out / ".cache" / "statistics" / f"{manifest['statistics_key']}.stats").is_file()
    assert (out / ".cache" / "reports" / f"{manifest['reports_key']}.reports").is_file()
    assert (out / ".cache" / "reports" / "notes.txt").is_file()
    _run(audit)
    rerun = _manifest(out)
    assert rerun["statistics_reused"] is True and rerun["reports_reused"] is True
    assert runner.invoke(app, ["cache", "prune", str(out), "--all"]).exit_code == 0
    assert not list((out / ".cache").rglob("*.stats")) and not list((out / ".cache").rglob("*.reports"))
    assert (out / ".cache" / "reports" / "notes.txt").is_file()
