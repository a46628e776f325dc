"""The public plugin API: exports and cheap import, options validated by each component's own model (with
file:line, in the schema), member suffixes, protocol conformance, and what the engine hands a loader."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

import uspec_audit
from uspec_audit import (
    BaseDatasetReader,
    DatasetReader,
    DatasetSourceSpec,
    LoaderSpec,
    Member,
    PluginError,
    Register,
)
from uspec_audit.config.models import Dataset
from uspec_audit.config.schema import audit_schema
from uspec_audit.data.opening import open_dataset
from uspec_audit.data.sources import ParquetReader
from uspec_audit.engine.loading import load_member
from uspec_audit.models.onnx import OnnxMember
from uspec_audit.plugins import build_registry
from uspec_audit.testing import TinyAudit


def test_every_public_name_resolves_and_importing_the_package_stays_cheap():
    for name in uspec_audit.__all__:
        assert getattr(uspec_audit, name) is not None, name
        assert name in dir(uspec_audit)
    assert Register[LoaderSpec] is not None  # a typed callback: Callable[[LoaderSpec], None]
    probe = (
        "import sys, uspec_audit; from uspec_audit import PerturbationSpec, Member, hookimpl; "
        "print(sorted(m for m in ('numpy', 'pandas', 'pyarrow', 'pydantic', 'onnxruntime') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"  # a plugin's `from uspec_audit import ...` pulls in nothing heavy


def test_built_in_objects_follow_the_protocols(tmp_path):
    world = TinyAudit(tmp_path)
    assert isinstance(OnnxMember(world.members[0], {}, "cpu"), Member)
    reader = ParquetReader(Dataset(source="parquet", path="x", input="image", shape=[8, 8, 3]), world.data)
    assert isinstance(reader, DatasetReader) and isinstance(reader, BaseDatasetReader)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return TinyAudit(tmp_path_factory.mktemp("api-world"))


def _validate(world: TinyAudit, text: str):
    """Validate ``text``; the result's stderr with the terminal's line wrapping undone."""
    path = world.root / "audit.toml"
    path.write_text(text)
    result = world.cli("validate", path)
    result.stderr = " ".join(result.stderr.split())
    return result, path


def test_loader_options_are_validated_by_the_loaders_model_with_file_and_line(world):
    text = world.audit_text().replace(
        'preprocess = { layout = "NC", scale = 255.0 }',
        'preprocess = { layout = "NC", scale = 255.0 }\noptions = { io_bindng = true }',
    )
    result, path = _validate(world, text)
    line = text.splitlines().index("options = { io_bindng = true }") + 1
    assert result.returncode == 2
    assert (
        f"{path}:{line}: ensemble 'tiny': options.io_bindng: loader 'onnx' has no option 'io_bindng'."
        in result.stderr
    )
    assert "Did you mean 'io_binding'?" in result.stderr
    wrong_type = text.replace("io_bindng = true", "io_binding = 3")
    result, _ = _validate(world, wrong_type)
    assert (
        result.returncode == 2 and "options.io_binding" in result.stderr and "valid boolean" in result.stderr
    )


def test_a_source_without_an_options_model_takes_none(world):
    text = world.audit_text().replace(
        'source = "parquet"', 'source = "parquet"\noptions = { delimiter = ";" }'
    )
    result, _ = _validate(world, text)
    assert (
        result.returncode == 2 and "dataset source 'parquet' takes no options, got delimiter" in result.stderr
    )


def test_component_options_join_the_json_schema(world):
    schema = audit_schema(build_registry(load_entry_points=False))
    assert {"loader:onnx", "loader:torch", "tokenizer:tokenizers"} <= set(schema["$defs"])
    good = tomllib.loads(world.audit_text())
    jsonschema.validate(good, schema)
    bad = json.loads(json.dumps(good))
    bad["ensembles"]["tiny"]["options"] = {"io_bindng": True}
    with pytest.raises(jsonschema.ValidationError):  # onnx is the default loader: its options apply
        jsonschema.validate(bad, schema)
    del bad["ensembles"]["tiny"]["loader"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    torch_options = json.loads(json.dumps(good))
    torch_options["ensembles"]["tiny"].update(loader="torch", options={"allow_pickle": True})
    jsonschema.validate(torch_options, schema)


def test_member_suffixes_are_read(world):
    text = world.audit_text().replace('loader = "onnx"', 'loader = "torch"')
    result, _ = _validate(world, text)
    assert result.returncode == 2
    assert (
        "member files member-0.onnx, member-1.onnx, member-2.onnx are .onnx files, which loader 'onnx' reads; "
        "loader 'torch' reads .pt, .ts, .pt2, .pth. Set loader = \"onnx\""
    ) in result.stderr
    renamed = world.root / "renamed"
    renamed.mkdir(exist_ok=True)
    for member in world.members:
        (renamed / f"{member.stem}.model").write_bytes(member.read_bytes())
    text = world.audit_text().replace(
        'members = "models/member-*.onnx"', 'members = "renamed/member-*.model"'
    )
    result, _ = _validate(world, text)
    assert result.returncode == 0, result.stderr
    assert (
        "member files member-0.model, member-1.model, member-2.model do not end in a suffix loader 'onnx' "
        "declares (.onnx); it will try to load them anyway"
    ) in result.stderr


@dataclasses.dataclass(frozen=True)
class _Seen:
    request: object
    fingerprint: str = "f"
    providers: tuple = ("cpu",)

    def predict(self, x):
        return np.zeros((len(x), 2))


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scale: float = 1.0


def test_a_loader_receives_a_typed_request_and_may_return_a_frozen_member(tmp_path):
    spec = LoaderSpec("api/seen", lambda request: _Seen(request), (), "records its request", options=_Options)
    path = tmp_path / "m.bin"
    path.write_bytes(b"x")
    named = load_member(
        spec,
        path,
        name="seed-3",
        ensemble="e",
        options={"scale": 2.0},
        device="cpu",
        output_index=1,
        input_name="pixels",
        task="binary",
        base_dir=tmp_path,
    )
    request = named.member.request
    assert (
        request.path,
        request.name,
        request.ensemble,
        request.options,
        request.output_index,
        request.input_name,
        request.task,
        request.device,
    ) == (path, "seed-3", "e", _Options(scale=2.0), 1, "pixels", "binary", "cpu")
    assert request.resolve("w.bin") == tmp_path / "w.bin"
    assert named.name == "seed-3" and named.fingerprint == "f" and named.providers == ["cpu"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        named.member.name = "x"  # what the engine used to do; it never writes to a member now


class _NoIterBatches(BaseDatasetReader):
    def __init__(self, request):
        super().__init__(request)
        self.num_examples = 1

    def metadata(self):
        raise AssertionError("not reached")


def test_a_reader_that_misses_part_of_the_protocol_is_named(tmp_path):
    data = tmp_path / "d.bin"
    data.write_bytes(b"x")
    config = Dataset(source="api/abstract", path=str(data))
    abstract = DatasetSourceSpec("api/abstract", _NoIterBatches, "misses iter_batches")
    with pytest.raises(PluginError) as caught:
        open_dataset(abstract, config, tmp_path, name="train")
    message = str(caught.value)
    assert "dataset source 'api/abstract' (module test_public_api) failed to open dataset 'train'" in message
    assert "abstract method" in message and "iter_batches" in message


class _WithOptions(BaseDatasetReader):
    def __init__(self, request):
        super().__init__(request)
        self.num_examples = 1

    def metadata(self):  # pragma: no cover - not read here
        raise NotImplementedError

    def iter_batches(self, batch_size):  # pragma: no cover
        return iter(())


def test_the_base_readers_fingerprint_covers_data_settings_options_and_the_sources_code(tmp_path):
    data = tmp_path / "d.bin"
    data.write_bytes(b"first")
    spec = DatasetSourceSpec("api/opts", _WithOptions, "options", options=_Options)

    def fingerprint(**table) -> str:
        return open_dataset(spec, Dataset(source="api/opts", path=str(data), **table), tmp_path).fingerprint()

    base = fingerprint()
    assert fingerprint(options={"scale": 2.0}) != base
    assert fingerprint(target="y") != base
    assert fingerprint(limit=1) != base
    moved = tmp_path / "moved.bin"
    moved.write_bytes(b"first")
    assert open_dataset(spec, Dataset(source="api/opts", path=str(moved)), tmp_path).fingerprint() == base
    data.write_bytes(b"second")
    assert fingerprint() != base
    other_code = DatasetSourceSpec("api/opts", _WithOptions, "options", options=_Options, version="2")
    assert (
        open_dataset(other_code, Dataset(source="api/opts", path=str(data)), tmp_path).fingerprint()
        != fingerprint()
    )


def test_hookspecs_document_every_family():
    from uspec_audit import hookspecs
    from uspec_audit.plugins import FAMILIES

    for family in FAMILIES.values():
        hook = getattr(hookspecs, family.hook)
        assert hook.__doc__ and "register(" in hook.__doc__
        assert f"Register[{family.spec_class.__name__}]" in str(hook.__annotations__["register"])
    assert Path(uspec_audit.__file__).parent.joinpath("py.typed").exists()
