"""Model loaders with real onnxruntime sessions and real torch modules."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from uspec_audit.config.models import Preprocess
from uspec_audit.errors import RunError
from uspec_audit.models.onnx import OnnxMember, SharedBatch, providers_for
from uspec_audit.models.preprocess import preprocess
from uspec_audit.models.torch import TorchMember


def _x(world, n=16):
    return preprocess(world.test_images[:n], Preprocess(layout="NCHW", scale=255.0))


def test_onnx_member_matches_bare_onnxruntime(digits_world):
    member = OnnxMember(digits_world.onnx_members[0], {}, "cpu")
    x = _x(digits_world)
    bare = ort.InferenceSession(str(digits_world.onnx_members[0]), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(member.predict(x), bare.run(None, {"image": x})[0], rtol=1e-6)
    assert member.providers == ["CPUExecutionProvider"]
    assert len(member.fingerprint) == 64


def test_gpu_feeding_path_gives_the_same_outputs_on_cpu(digits_world):
    """IO binding and fixed-shape padding (used on GPUs) agree with plain runs; exercised here on the CPU."""
    plain = OnnxMember(digits_world.onnx_members[1], {}, "cpu")
    bound = OnnxMember(digits_world.onnx_members[1], {"io_binding": True, "pad_batches": True}, "cpu")
    x = _x(digits_world, 16)
    np.testing.assert_allclose(bound.predict(x), plain.predict(x), rtol=1e-6)
    last = bound.predict(x[:5])  # padded to 16 internally, cut back to 5
    assert last.shape == (5, 10)
    np.testing.assert_allclose(last, plain.predict(x[:5]), rtol=1e-6)


def test_a_shared_batch_is_padded_and_copied_once_for_every_member_on_a_device(digits_world):
    """The GPU feeding path on the CPU: three members bind one OrtValue of one padded copy of the batch."""
    options = {"io_binding": True, "pad_batches": True}
    members = [OnnxMember(path, options, "cpu") for path in digits_world.onnx_members[:3]]
    bare = [
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        for p in digits_world.onnx_members[:3]
    ]
    x = _x(digits_world, 11)
    batch = SharedBatch(x, pad_to=16)  # the last, short batch of a stream of 16s
    outputs = [member.predict_shared(batch) for member in members]
    assert batch.device_copies == 1 and list(batch._padded) == [16]
    assert all(m._batch_size == 16 for m in members)  # one fixed shape: no re-tuning for the short batch
    for output, session in zip(outputs, bare, strict=True):
        assert output.shape == (11, 10)
        np.testing.assert_allclose(output, session.run(None, {"image": x})[0], rtol=1e-6)
    full = SharedBatch(_x(digits_world, 16), pad_to=16)
    members[0].predict_shared(full)
    assert full.device_copies == 1 and not full._padded  # a full batch is bound as it is, never copied to pad


def test_fp16_members_convert_at_load_and_keep_float32_inputs(digits_world):
    """options.fp16: float16 weights and arithmetic (GPU tensor cores), float32 in and out; close to float32."""
    plain = OnnxMember(digits_world.onnx_members[0], {}, "cpu")
    half = OnnxMember(digits_world.onnx_members[0], {"fp16": True}, "cpu")
    x = _x(digits_world, 32)
    assert half.input_dtype == "float32" and half.fp16
    a, b = plain.predict(x), half.predict(x)
    assert b.dtype == np.float32
    assert not np.array_equal(a, b)  # really computed in half precision
    np.testing.assert_allclose(b, a, atol=0.05)
    assert (a.argmax(1) == b.argmax(1)).mean() >= 0.95


def test_onnx_input_checks(digits_world):
    member = OnnxMember(digits_world.onnx_members[0], {}, "cpu")
    x = _x(digits_world)
    member.check_input(x)
    with pytest.raises(RunError, match="expects 4 dimensions"):
        member.check_input(x.reshape(len(x), -1))
    with pytest.raises(RunError, match="expects shape"):
        member.check_input(np.zeros((2, 1, 9, 8), np.float32))
    with pytest.raises(RunError, match="expects dtype float32"):
        member.check_input(x.astype(np.float64))


def test_corrupt_onnx_file(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf")
    with pytest.raises(RunError, match="onnxruntime cannot load"):
        OnnxMember(bad, {}, "cpu")


def test_cuda_request_without_cuda_fails_loudly(digits_world):
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has CUDA; the test is about machines without it")
    with pytest.raises(RunError, match="--device cuda"):
        OnnxMember(digits_world.onnx_members[0], {}, "cuda")


def test_provider_choice():
    assert providers_for("cpu", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert (
        providers_for("auto", ["CUDAExecutionProvider", "CPUExecutionProvider"])[0] == "CUDAExecutionProvider"
    )
    assert providers_for("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]


def test_torchscript_agrees_with_onnx(digits_world):
    x = _x(digits_world)
    script = TorchMember(digits_world.torchscript_members[0], {}, "cpu")
    onnx = OnnxMember(digits_world.onnx_members[0], {}, "cpu")
    np.testing.assert_allclose(script.predict(x), onnx.predict(x), rtol=1e-4, atol=1e-5)
    assert script.providers == ["torch:cpu"]


def test_state_dict_with_factory_is_weights_only(digits_world):
    from uspec_audit.config.trust import allowed_code

    x = _x(digits_world)
    with pytest.raises(
        RunError, match="--allow-code builders"
    ):  # code named in options runs only when enabled
        TorchMember(digits_world.state_dict, {"factory": "builders:tiny_net"}, "cpu")
    with allowed_code(["builders"]):
        member = TorchMember(digits_world.state_dict, {"factory": "builders:tiny_net"}, "cpu")
    onnx = OnnxMember(digits_world.onnx_members[0], {}, "cpu")
    np.testing.assert_allclose(member.predict(x), onnx.predict(x), rtol=1e-4, atol=1e-5)


def test_torch_export_archive(digits_world, tmp_path):
    from builders import tiny_net

    module = tiny_net(3).eval()
    path = tmp_path / "model.pt2"
    torch.export.save(torch.export.export(module, (torch.zeros(2, 1, 8, 8),)), str(path))
    member = TorchMember(path, {}, "cpu")
    x = _x(digits_world, 2)
    np.testing.assert_allclose(member.predict(x), module(torch.from_numpy(x)).detach().numpy(), rtol=1e-5)


def test_pickle_refused_unless_allowed(tmp_path):
    from builders import tiny_net

    path = tmp_path / "pickled.pt"
    torch.save(tiny_net(1), str(path))
    with pytest.raises(RunError, match="allow_pickle = true"):
        TorchMember(path, {}, "cpu")
    member = TorchMember(path, {"allow_pickle": True}, "cpu")
    assert member.predict(np.zeros((1, 1, 8, 8), np.float32)).shape == (1, 10)


def test_torch_member_rejects_wrong_input(digits_world):
    member = TorchMember(digits_world.torchscript_members[0], {}, "cpu")
    with pytest.raises(RunError, match="rejects preprocessed data"):
        member.check_input(np.zeros((2, 3, 5, 5), np.float32))


def test_onnx_only_use_does_not_import_torch(digits_world, tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from uspec_audit.models.onnx import OnnxMember; import numpy as np\n"
        f"m = OnnxMember(__import__('pathlib').Path({str(digits_world.onnx_members[0])!r}), {{}}, 'cpu')\n"
        "m.predict(np.zeros((1, 1, 8, 8), np.float32))\n"
        "from uspec_audit.plugins import get_registry; get_registry()\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_preprocess_normalizes_and_transposes():
    images = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
    out = preprocess(images, Preprocess(layout="NCHW", scale=255.0, mean=[0.5] * 3, std=[0.25] * 3))
    assert out.shape == (2, 3, 2, 2) and out.dtype == np.float32
    expected = ((images[0, 1, 0, 2] / 255.0) - 0.5) / 0.25
    assert out[0, 2, 1, 0] == pytest.approx(expected, rel=1e-6)
