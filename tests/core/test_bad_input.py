"""Hostile and careless input, case by case: each gets a clear message and its documented exit code.

One test per case found when the tool was tried as a hostile user would (issue 10); add new cases here.
Exit codes: 2 invalid audit file or arguments, 3 run-time failure of a model, data or plugin. None of
these may print ``error: unexpected`` (reserved for real bugs) or a traceback, and none may leave a
results folder that looks complete.
"""

from __future__ import annotations

import json
import os
import resource
import stat
import sys
import zipfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from builders import basic_audit, tiny_net, write_audit
from safety_tools import (
    cli,
    in_private_mount,
    leftovers,
    peak_rss_of,
    png_header_only,
    snapshot,
    torch_payload,
    unshare_available,
)
from typer.testing import CliRunner

from uspec_audit.cli.app import app

runner = CliRunner()


def _clear(result, code: int, *fragments: str) -> None:
    """The command failed with ``code`` and a message holding every fragment, without a traceback."""
    if hasattr(result, "exit_code"):  # CliRunner
        seen, output = result.exit_code, result.output
    else:  # subprocess
        seen, output = result.returncode, result.stdout + result.stderr
    assert seen == code, output
    for fragment in fragments:
        assert fragment in output, output
    assert "error: unexpected" not in output and "Traceback" not in output, output


def _with_dataset(world, folder, table: pa.Table, name: str = "data.parquet", **replace: str):
    """The basic audit with the shifted dataset replaced by ``table``."""
    path = folder / name
    pq.write_table(table, path)
    audit = basic_audit(world, folder)
    text = audit.read_text().replace(str(world.shifted_parquet), str(path))
    for old, new in replace.items():
        text = text.replace(old, new)
    audit.write_text(text)
    return audit


# ----------------------------------------------------------------------------- results folder


def test_out_that_is_a_file(digits_world, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    result = runner.invoke(app, ["run", str(basic_audit(digits_world, tmp_path)), "--out", str(target)])
    _clear(result, 2, "is a file, not a folder")
    assert target.read_text() == "mine"


def test_non_empty_folder_that_is_not_ours_is_refused_untouched(digits_world, tmp_path):
    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "report.html").write_text("my own report")
    (foreign / "predictions").mkdir()
    (foreign / "predictions" / "keep.txt").write_text("mine")
    before = snapshot(foreign, cache=True)
    result = runner.invoke(app, ["run", str(basic_audit(digits_world, tmp_path)), "--out", str(foreign)])
    _clear(result, 2, "is not a uspec-audit results folder", "--out")
    assert snapshot(foreign, cache=True) == before and not (foreign / ".uspec-audit").exists()


def test_read_only_out(digits_world, tmp_path):
    audit = basic_audit(digits_world, tmp_path)
    out = tmp_path / "locked"
    out.mkdir()
    if os.geteuid() != 0:
        out.chmod(0o555)
        result = cli("run", str(audit), "--out", str(out), "--no-reports")
        out.chmod(0o755)
    elif unshare_available():  # root ignores permissions: a read-only mount stops root too
        done = in_private_mount(
            f"mount -t tmpfs -o ro none {out} && exec {sys.executable} -m uspec_audit run "
            f"{audit} --out {out} --no-reports"
        )
        result = done
    else:
        pytest.skip("running as root without user namespaces: no way to make a folder read-only for root")
    _clear(result, 2, "not writable", "--out")


def test_audit_file_output_outside_its_folder(digits_world, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "summary.parquet").write_text("not ours")
    project = tmp_path / "project"
    project.mkdir()
    audit = basic_audit(digits_world, project)
    audit.write_text(audit.read_text().replace(f'output = "{project / "results"}"', 'output = "../victim"'))
    _clear(runner.invoke(app, ["validate", str(audit)]), 2, "outside the audit file's folder", "--out")
    _clear(runner.invoke(app, ["run", str(audit)]), 2, "outside the audit file's folder")
    assert (victim / "summary.parquet").read_text() == "not ours"
    chosen = runner.invoke(app, ["run", str(audit), "--no-reports", "--out", str(tmp_path / "chosen")])
    assert chosen.exit_code == 0, chosen.output  # the user's own command line may write anywhere


def test_device_cuda_without_cuda_leaves_previous_results(digits_world, tmp_path):
    audit = basic_audit(digits_world, tmp_path)
    assert runner.invoke(app, ["run", str(audit), "--no-reports"]).exit_code == 0
    before = snapshot(tmp_path / "results")
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA")
    result = runner.invoke(app, ["run", str(audit), "--no-reports", "--device", "cuda", "--fresh"])
    _clear(result, 3, "cuda")
    assert snapshot(tmp_path / "results") == before


def test_full_disk_file_size_limit(digits_world, tmp_path):
    """A real write failure (EFBIG from RLIMIT_FSIZE, the portable stand-in for a full disk) in a subprocess."""
    audit = basic_audit(digits_world, tmp_path)
    assert cli("run", str(audit), "--no-reports").returncode == 0
    before = snapshot(tmp_path / "results")

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))

    result = cli("run", str(audit), "--fresh", preexec_fn=limit)
    _clear(result, 3, "File too large", "free space and run again")
    assert snapshot(tmp_path / "results") == before and not leftovers(tmp_path / "results")


@pytest.mark.skipif(
    not unshare_available(), reason="needs user namespaces for a small tmpfs (a real full disk)"
)
def test_full_disk_no_space_left(digits_world, tmp_path):
    """ENOSPC for real: a 900 KB tmpfs holds the tables of a first run but not the reports of a second."""
    audit = basic_audit(digits_world, tmp_path)
    out, seen = tmp_path / "tiny", tmp_path / "seen"
    out.mkdir()
    seen.mkdir()
    run = f"{sys.executable} -m uspec_audit run {audit} --out {out}"
    done = in_private_mount(f"""
        mount -t tmpfs -o size=900k none {out} || exit 99
        {run} --no-reports >/dev/null 2>&1; echo $? > {seen}/first
        sha256sum {out}/manifest.json > {seen}/before
        {run} --fresh >/dev/null 2>{seen}/stderr; echo $? > {seen}/second
        sha256sum {out}/manifest.json > {seen}/after
        find {out} -name '.staging-*' -o -name '*.tmp' -o -name '.tmp-*' > {seen}/leftovers
        """)
    assert done.returncode == 0, done.stderr
    stderr = (seen / "stderr").read_text()
    assert (seen / "first").read_text().strip() == "0"
    assert (seen / "second").read_text().strip() == "3", stderr
    assert "No space left on device" in stderr and "free space and run again" in stderr
    assert "unexpected" not in stderr and "Traceback" not in stderr
    assert (seen / "before").read_text() == (seen / "after").read_text()  # the previous results are intact
    assert (seen / "leftovers").read_text() == ""


# ----------------------------------------------------------------------------- audit files


def test_ensemble_name_of_300_characters(digits_world, tmp_path):
    audit = basic_audit(digits_world, tmp_path)
    audit.write_text(audit.read_text().replace("[ensembles.linear]", f"[ensembles.{'e' * 300}]"))
    _clear(runner.invoke(app, ["validate", str(audit)]), 2, "must have 1 to 64 characters")


@pytest.mark.parametrize("depth", [40, 5000])
def test_deeply_nested_toml(tmp_path, depth):
    audit = tmp_path / "deep.toml"
    audit.write_text("x = " + "[" * depth + "]" * depth + "\n")
    _clear(runner.invoke(app, ["validate", str(audit)]), 2, "nested")


def test_validate_dev_zero_returns_at_once():
    result = cli("validate", "/dev/zero", timeout=60)
    _clear(result, 2, "character device", "not a regular file")


def test_audit_file_too_large(tmp_path):
    audit = tmp_path / "huge.toml"
    audit.write_text("# padding\n" * 200_000)
    _clear(runner.invoke(app, ["validate", str(audit)]), 2, "at most 1,048,576 are accepted")


# ----------------------------------------------------------------------------- code from audit files


def _factory_audit(world, folder, factory: str, kwargs: str = "{}"):
    return write_audit(
        folder / "factory.toml",
        f"""
        [audit]
        name = "factory"
        output = "results"

        [ensembles.net]
        loader = "torch"
        members = ["{world.state_dict}"]
        task = "multiclass"
        preprocess = {{ layout = "NCHW", scale = 255.0 }}
        options = {{ factory = "{factory}", factory_kwargs = {kwargs} }}

        [datasets.test]
        source = "parquet"
        path = "{world.parquet}"
        limit = 64

        [[tests]]
        name = "iid"
        kind = "iid"
        dataset = "test"
        metrics = ["accuracy"]
        """,
    )


def test_factory_os_system_never_runs(digits_world, tmp_path):
    marker = tmp_path / "PWNED_MARKER"
    audit = _factory_audit(digits_world, tmp_path, "os:system", f'{{ command = "touch {marker}" }}')
    _clear(runner.invoke(app, ["validate", str(audit)]), 2, "standard library")
    _clear(runner.invoke(app, ["run", str(audit)]), 2, "standard library")
    _clear(runner.invoke(app, ["run", str(audit), "--allow-code", "os"]), 2, "never allowed")
    assert not marker.exists() and not (tmp_path / "results").exists()


def test_factory_needs_the_command_line_opt_in(digits_world, tmp_path):
    audit = _factory_audit(digits_world, tmp_path, "builders:tiny_net")
    _clear(runner.invoke(app, ["validate", str(audit)]), 2, "--allow-code builders")
    _clear(runner.invoke(app, ["run", str(audit), "--no-reports"]), 2, "--allow-code builders")
    valid = runner.invoke(app, ["validate", str(audit), "--allow-code", "builders", "--json"])
    assert valid.exit_code == 0 and "builders:tiny_net" in json.loads(valid.output)["code"][0]
    ran = runner.invoke(app, ["run", str(audit), "--no-reports", "--allow-code", "builders"])
    assert ran.exit_code == 0, ran.output


def test_factory_reexported_from_the_standard_library_is_refused(digits_world, tmp_path, monkeypatch):
    marker = tmp_path / "PWNED_MARKER"
    (tmp_path / "innocent.py").write_text("from os import system as build\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    audit = _factory_audit(digits_world, tmp_path, "innocent:build", f'{{ command = "touch {marker}" }}')
    result = runner.invoke(app, ["run", str(audit), "--no-reports", "--allow-code", "innocent"])
    _clear(result, 3, "standard library")
    assert not marker.exists()


# ----------------------------------------------------------------------------- models


def _pt2_payloads(folder, marker) -> dict[str, object]:
    """torch.export archives whose pickled parts run a command when loaded the default torch way."""
    good = folder / "good.pt2"
    torch.export.save(torch.export.export(tiny_net(3).eval(), (torch.zeros(2, 1, 8, 8),)), str(good))
    source = zipfile.ZipFile(good)
    prefix = source.namelist()[0].split("/")[0]
    payload = torch_payload(f"touch {marker}")

    def variant(name: str, changes: dict[str, bytes]):
        path = folder / name
        with zipfile.ZipFile(path, "w") as archive:
            for member in source.namelist():
                archive.writestr(member, changes.get(member, source.read(member)))
            for member, data in changes.items():
                if member not in source.namelist():
                    archive.writestr(member, data)
        return path

    config = json.loads(source.read(f"{prefix}/data/weights/model_weights_config.json"))
    config["config"]["1.bias"]["use_pickle"] = True
    return {
        "sample inputs": variant("sample.pt2", {f"{prefix}/data/sample_inputs/model.pt": payload}),
        "pickled weight": variant(
            "weight.pt2",
            {
                f"{prefix}/data/weights/model_weights_config.json": json.dumps(config).encode(),
                f"{prefix}/data/weights/weight_1": payload,
            },
        ),
        "opaque object": variant("opaque.pt2", {f"{prefix}/data/constants/opaque_obj_0": payload}),
        "not a zip": variant_garbage(folder / "garbage.pt2"),
    }


def variant_garbage(path):
    path.write_bytes(b"not a zip archive")
    return path


def test_pt2_payloads_run_no_code_and_print_no_traceback(digits_world, tmp_path):
    marker = tmp_path / "PWNED_MARKER"
    for case, model in _pt2_payloads(tmp_path, marker).items():
        audit = basic_audit(digits_world, tmp_path)
        audit.write_text(
            audit.read_text()
            .replace('loader = "onnx"', 'loader = "torch"')
            .replace(f'"{digits_world.root / "models"}/seed-*.onnx"', f'["{model}"]')
        )
        result = cli("run", str(audit), "--no-reports", "--out", str(tmp_path / f"out-{model.stem}"))
        _clear(result, 3, model.name)
        assert "W1" not in result.stderr, (
            case,
            result.stderr,
        )  # torch's logged traceback stays off the terminal
        assert not marker.exists(), case


def test_member_symlinked_to_dev_zero(digits_world, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "a.onnx").write_bytes(digits_world.onnx_members[0].read_bytes())
    (models / "b.onnx").symlink_to("/dev/zero")
    audit = basic_audit(digits_world, tmp_path)
    audit.write_text(
        audit.read_text().replace(f"{digits_world.root / 'models'}/seed-*.onnx", f"{models}/*.onnx")
    )
    _clear(cli("validate", str(audit), timeout=120), 2, "b.onnx", "character device")
    _clear(cli("run", str(audit), "--no-reports", timeout=120), 2, "b.onnx", "character device")


# ----------------------------------------------------------------------------- data


def test_fifo_as_dataset(digits_world, tmp_path):
    fifo = tmp_path / "data.parquet"
    os.mkfifo(fifo)
    audit = basic_audit(digits_world, tmp_path)
    audit.write_text(audit.read_text().replace(str(digits_world.shifted_parquet), str(fifo)))
    _clear(cli("validate", str(audit), timeout=120), 2, "named pipe (FIFO)")
    _clear(cli("run", str(audit), "--no-reports", timeout=120), 2, "named pipe (FIFO)")


def test_fifo_among_the_images_of_an_image_folder(digits_world, tmp_path):
    """The first image is a FIFO: the dataset check reads image headers, and must not block on it."""
    import shutil

    folder = tmp_path / "images"
    shutil.copytree(digits_world.image_folder, folder)
    first = sorted(folder.iterdir())[0]
    first.unlink()
    os.mkfifo(first)
    table = tmp_path / "images.csv"
    table.write_text(digits_world.image_table.read_text())
    audit = basic_audit(digits_world, tmp_path)
    audit.write_text(
        audit.read_text().replace(
            f'source = "parquet"\npath = "{digits_world.shifted_parquet}"\nid = "id"\nattributes = ["ink", "parity"]',
            f'source = "images"\npath = "{folder}"\ntable = "{table}"\nattributes = ["ink"]',
        )
    )
    result = cli("run", str(audit), "--no-reports", timeout=120)
    assert result.returncode in (2, 3) and "named pipe (FIFO)" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_empty_dataset(digits_world, tmp_path):
    audit = _with_dataset(digits_world, tmp_path, pq.read_table(digits_world.shifted_parquet).slice(0, 0))
    _clear(runner.invoke(app, ["run", str(audit), "--no-reports"]), 3, "dataset 'shifted'", "has no examples")


def _replace_image(world, index: int, data: bytes) -> pa.Table:
    table = pq.read_table(world.shifted_parquet)
    images = table.column("image").to_pylist()
    images[index] = data
    return table.set_column(table.schema.get_field_index("image"), "image", pa.array(images, pa.binary()))


def test_undecodable_png(digits_world, tmp_path):
    audit = _with_dataset(
        digits_world, tmp_path, _replace_image(digits_world, 3, b"\x89PNG\r\n\x1a\n garbage")
    )
    _clear(runner.invoke(app, ["run", str(audit), "--no-reports"]), 3, "example 3: cannot decode the image")


def test_png_decompression_bomb(digits_world, tmp_path):
    """Past the first row (which validation reads), the decoder refuses it from its header."""
    audit = _with_dataset(
        digits_world, tmp_path, _replace_image(digits_world, 5, png_header_only(60_000, 60_000))
    )
    _clear(runner.invoke(app, ["run", str(audit), "--no-reports"]), 3, "example 5", "decompression bomb")


def test_png_of_50_million_pixels_is_refused_by_our_own_limit(digits_world, tmp_path):
    audit = _with_dataset(
        digits_world, tmp_path, _replace_image(digits_world, 5, png_header_only(8_000, 8_000))
    )
    _clear(runner.invoke(app, ["run", str(audit), "--no-reports"]), 3, "declares 8000 x 8000 pixels")


def test_list_column_bomb_is_refused_before_reading(digits_world, tmp_path):
    """A few KB of Parquet whose list column inflates to 600 MB: refused from the file's metadata alone."""
    path = tmp_path / "bomb.parquet"
    labels = pq.read_table(digits_world.parquet).column("label").to_numpy()[:12]
    zeros = pa.array(np.zeros(50_000_000, np.int8))
    schema = pa.schema([("image", pa.list_(pa.int8())), ("label", pa.int64())])
    with pq.ParquetWriter(path, schema, compression="snappy") as writer:
        for label in labels:  # one row per row group, each a list of 50 M zeros
            writer.write_table(
                pa.table(
                    {
                        "image": pa.ListArray.from_arrays(pa.array([0, len(zeros)], pa.int32()), zeros),
                        "label": [int(label)],
                    },
                    schema=schema,
                )
            )
    assert path.stat().st_size < 100_000
    audit = basic_audit(digits_world, tmp_path)
    audit.write_text(
        audit.read_text().replace(
            f'path = "{digits_world.shifted_parquet}"\nid = "id"\nattributes = ["ink", "parity"]',
            f'path = "{path}"\nshape = [8, 8, 1]',
        )
    )
    code, peak_mb, stderr = peak_rss_of("run", str(audit), "--no-reports")
    assert code == 3, stderr
    assert "holds 50,000,000 values for 1 rows" in stderr and "Traceback" not in stderr
    assert peak_mb < 600, peak_mb  # reading the column would take 600 MB more than the ~250 MB of a run


def test_id_like_stratification_is_refused_with_the_count(digits_world, tmp_path):
    table = pq.read_table(digits_world.parquet)
    table = table.append_column("patient", pa.array([f"p{i}" for i in range(table.num_rows)]))
    audit = _with_dataset(
        digits_world,
        tmp_path,
        table,
        **{
            f'path = "{digits_world.parquet}"\nid = "id"\nattributes = ["ink", "parity", "ink_total"]': f'path = "{tmp_path / "data.parquet"}"\nid = "id"\nattributes = ["ink", "patient"]',
            'by = "ink"': 'by = "patient"',
        },
    )
    _clear(
        runner.invoke(app, ["run", str(audit), "--no-reports"]),
        2,
        "'patient' has 597 distinct values",
        "597 strata",
        "max_strata = 100",
    )


def test_id_like_attribute_under_the_limit_is_a_warning(digits_world, tmp_path):
    table = pq.read_table(digits_world.parquet)
    table = table.append_column("patient", pa.array([f"p{i}" for i in range(table.num_rows)]))
    audit = _with_dataset(
        digits_world,
        tmp_path,
        table,
        **{
            f'path = "{digits_world.parquet}"\nid = "id"\nattributes = ["ink", "parity", "ink_total"]': f'path = "{tmp_path / "data.parquet"}"\nid = "id"\nattributes = ["ink", "patient"]\nlimit = 30',
            'by = "ink"': 'by = "patient"',
        },
    )
    result = runner.invoke(app, ["run", str(audit), "--no-reports", "--json"])
    assert result.exit_code == 0, result.output
    assert any("'patient'" in w and "looks like an id" in w for w in json.loads(result.output)["warnings"])


def test_control_characters_from_data_are_escaped(digits_world, tmp_path):
    hostile = "\x1b]0;owned\x07\x1b[2Jname"
    table = pq.read_table(digits_world.shifted_parquet)
    table = table.append_column(hostile, pa.array(np.zeros(table.num_rows)))
    audit = _with_dataset(digits_world, tmp_path, table.drop(["parity"]))
    result = cli("run", str(audit), "--no-reports")
    _clear(result, 2, "parity", "\\x1b]0;owned\\x07\\x1b[2Jname")
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr


# ----------------------------------------------------------------------------- reading results


@pytest.fixture(scope="module")
def finished(digits_world, tmp_path_factory):
    folder = tmp_path_factory.mktemp("finished")
    audit = basic_audit(digits_world, folder)
    assert runner.invoke(app, ["run", str(audit), "--no-reports"]).exit_code == 0
    return folder / "results"


def _copy(folder, tmp_path):
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def test_report_on_a_corrupt_table(finished, tmp_path):
    results = _copy(finished, tmp_path)
    (results / "summary.parquet").write_bytes(b"PAR1 garbage PAR1")
    _clear(runner.invoke(app, ["report", str(results)]), 2, "summary.parquet", "changed after the run")


def test_report_on_a_one_byte_flip_in_a_table(finished, tmp_path):
    results = _copy(finished, tmp_path)
    data = bytearray((results / "metrics.parquet").read_bytes())
    data[len(data) // 2] ^= 0x01
    (results / "metrics.parquet").write_bytes(bytes(data))
    _clear(runner.invoke(app, ["report", str(results)]), 2, "metrics.parquet", "sha256")


def test_report_on_a_corrupt_manifest(finished, tmp_path):
    results = _copy(finished, tmp_path)
    (results / "manifest.json").write_text('{"status": "complete", "tool": ')
    _clear(runner.invoke(app, ["report", str(results)]), 2, "manifest.json is damaged")


def test_report_on_a_corrupt_table_without_a_file_list(finished, tmp_path):
    """A results folder of the first release (no file list in the manifest) is checked table by table."""
    results = _copy(finished, tmp_path)
    manifest = json.loads((results / "manifest.json").read_text())
    del manifest["files"]
    (results / "manifest.json").write_text(json.dumps(manifest))
    (results / "contracts.parquet").write_bytes(b"not parquet at all")
    _clear(
        runner.invoke(app, ["report", str(results)]), 2, "contracts.parquet is not a readable Parquet file"
    )


def test_special_file_kinds_are_named(tmp_path):
    from uspec_audit.files import file_kind

    os.mkfifo(tmp_path / "fifo")
    assert file_kind(os.stat(tmp_path / "fifo").st_mode) == "a named pipe (FIFO)"
    assert file_kind(os.stat("/dev/zero").st_mode).startswith("a character device")
    assert stat.S_ISDIR(os.stat(tmp_path).st_mode) and file_kind(os.stat(tmp_path).st_mode) == "a folder"
