"""The prediction cache heals itself: a damaged entry is a warning and is recomputed; info and prune."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from builders import basic_audit
from safety_tools import snapshot
from typer.testing import CliRunner

from uspec_audit.cli.app import app
from uspec_audit.engine.cache import PredictionCache, UnitPredictions

runner = CliRunner()


def _unit(seed: int = 0) -> UnitPredictions:
    rng = np.random.default_rng(seed)
    return UnitPredictions(
        ["a", "b"], np.arange(50), rng.integers(0, 3, 50), rng.random((2, 50, 3), np.float32), 1.0
    )


def _damage(path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif how == "garbage":
        path.write_bytes(np.random.default_rng(1).integers(0, 256, len(data), np.uint8).tobytes())
    elif how == "one byte flipped":
        data[len(data) * 2 // 3] ^= 0x10
        path.write_bytes(bytes(data))
    elif how == "empty":
        path.write_bytes(b"")


@pytest.mark.parametrize("how", ["truncated", "garbage", "one byte flipped", "empty"])
def test_damaged_entry_is_reported_and_never_used(tmp_path, how):
    cache = PredictionCache(tmp_path)
    key = "0" * 64
    cache.put(key, _unit())
    assert cache.has(key)
    _damage(tmp_path / f"{key}.unit", how)
    fresh = PredictionCache(tmp_path)
    assert not fresh.has(key) and fresh.get(key) is None
    assert len(fresh.warnings) == 1 and "damaged" in fresh.warnings[0] and key in fresh.warnings[0]
    assert not (tmp_path / f"{key}.unit").exists()  # removed, so the next write replaces it


def test_every_entry_round_trips_exactly(tmp_path):
    cache = PredictionCache(tmp_path)
    unit = _unit(3)
    cache.put("1" * 64, unit)
    back = PredictionCache(tmp_path).get("1" * 64)
    assert back.members == unit.members and back.seconds == unit.seconds
    for name in ("ids", "target", "outputs"):
        np.testing.assert_array_equal(getattr(back, name), getattr(unit, name))


@pytest.fixture(scope="module")
def cached_run(digits_world, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache")
    audit = basic_audit(digits_world, folder)
    result = runner.invoke(app, ["run", str(audit), "--no-reports"])
    assert result.exit_code == 0, result.output
    return audit, folder / "results"


@pytest.mark.parametrize("how", ["truncated", "garbage", "one byte flipped"])
def test_a_run_recomputes_a_damaged_entry_and_keeps_the_results(cached_run, how):
    audit, out = cached_run
    tables = {name: pd.read_parquet(out / name) for name in ("metrics.parquet", "summary.parquet")}
    entries = sorted((out / ".cache" / "predictions").glob("*.unit"))
    _damage(entries[0], how)
    result = runner.invoke(app, ["run", str(audit), "--no-reports", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert (
        payload["timings"]["units_computed"] == 1 and payload["timings"]["units_reused"] == len(entries) - 1
    )
    assert any("damaged" in w and entries[0].name in w for w in payload["warnings"])
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(frame, pd.read_parquet(out / name), check_exact=True)


def test_cache_info_and_prune(digits_world, cached_run, tmp_path):
    audit, out = cached_run
    cache = out / ".cache" / "predictions"
    (cache / ("a" * 64 + ".unit")).write_bytes(b"an entry of an older audit")
    (cache / ("b" * 64 + ".npz")).write_bytes(b"a 0.1 entry")
    (cache / ".tmp-killed.unit").write_bytes(b"partial")
    (cache / "README.txt").write_text("not ours")
    (out / ".cache" / "other-tool").write_text("not ours")
    info = runner.invoke(app, ["cache", "info", str(out), "--json", "--verify"])
    assert info.exit_code == 0, info.output
    data = json.loads(info.output)
    referenced = {u["key"] for u in json.loads((out / "manifest.json").read_text())["units"]}
    assert data["stores"]["predictions"]["referenced"] == len(referenced)
    assert data["groups"]["referenced"]["entries"] == len(referenced) + 1  # and the run's statistics entry
    # (the runs above recomputed a unit, hence new statistics: the earlier statistics entries are unreferenced)
    unreferenced = [f for f in data["files"] if f["kind"] == "entry" and not f["referenced"]]
    assert [f["name"] for f in unreferenced if f["store"] == "predictions"] == ["a" * 64 + ".unit"]
    assert data["damaged"] == ["a" * 64 + ".unit"]
    assert (
        data["groups"]["from uspec-audit 0.1"]["entries"] == 1
        and data["groups"]["partial writes"]["entries"] == 1
    )
    assert "README.txt" not in {f["name"] for f in data["files"]}
    before = snapshot(out)
    pruned = runner.invoke(app, ["cache", "prune", str(out), "--json"])
    assert pruned.exit_code == 0, pruned.output
    assert sorted(r for r in json.loads(pruned.output)["removed"] if not r.endswith(".stats")) == sorted(
        ["a" * 64 + ".unit", "b" * 64 + ".npz", ".tmp-killed.unit"]
    )
    assert snapshot(out) == before  # the results themselves are untouched
    assert (cache / "README.txt").exists() and (out / ".cache" / "other-tool").exists()
    rerun = runner.invoke(app, ["run", str(audit), "--no-reports", "--json"])
    assert json.loads(rerun.output)["timings"]["units_computed"] == 0  # everything referenced was kept
    everything = runner.invoke(app, ["cache", "prune", str(out), "--all"])
    assert everything.exit_code == 0 and not list(cache.glob("*.unit")) and (cache / "README.txt").exists()


def test_cache_commands_refuse_a_folder_that_is_not_ours(tmp_path):
    (tmp_path / "data.csv").write_text("x")
    for command in (["cache", "info"], ["cache", "prune", "--all"]):
        result = runner.invoke(app, [*command, str(tmp_path)])
        assert result.exit_code == 2 and "not a uspec-audit results folder" in result.output
    assert (tmp_path / "data.csv").exists()
