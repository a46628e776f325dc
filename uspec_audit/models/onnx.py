"""The ``onnx`` loader: one onnxruntime session per member.

Providers are chosen automatically (TensorRT/CUDA when the installed
onnxruntime offers them, else CPU) or by ``--device``; the providers a session
really uses are recorded, and a device that was asked for but is not in use
is an error rather than a silent CPU fallback. On the CPU each session has its
own thread pool whose threads sleep instead of spin-waiting between operators:
members run one after the other, so idle pools cost nothing, and on a shared
machine the active pool does not burn the cores other processes need (spinning
pools slowed the 8-member overhead benchmark by 12-35 % under load). When the
process is ours (the ``uspec-audit`` command, a Ray worker),
:func:`configure_threads` sizes the pools (``USPEC_AUDIT_THREADS``).

On a GPU a batch is fed through IO binding: :class:`SharedBatch` pads it to the
fixed batch shape once and copies it to each device once, and every member on
that device binds the same device buffer (``OrtValue``); outputs stay on the
device until the run ends. ``options.fp16 = true`` converts a float32 model to
float16 weights and arithmetic at load (inputs and outputs stay float32).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from uspec_audit.components import LoaderSpec
from uspec_audit.errors import RunError
from uspec_audit.fingerprint import file_sha256
from uspec_audit.protocols import LoadRequest

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(uint8)": "uint8",
}
_GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")
_threads = 0  # intra-op threads per session; 0: onnxruntime's default (one per core)


def configure_threads() -> None:
    """The process is ours (the CLI calls this first, a Ray worker too): every session's pool gets
    ``USPEC_AUDIT_THREADS`` threads (default: one per core)."""
    global _threads
    _threads = max(0, int(os.environ.get("USPEC_AUDIT_THREADS", "0") or 0))


def _ort():
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    try:
        onnxruntime.disable_telemetry_events()
    except AttributeError:
        pass
    return onnxruntime


def providers_for(device: str, available: list[str]) -> list[str]:
    """The provider list for ``device`` (auto | cpu | cuda | tensorrt)."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "tensorrt":
        return ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class SharedBatch:
    """One model-ready batch shared by every member that reads it.

    Padded to the fixed batch shape at most once (``pad_to``), and copied to
    each device at most once: members on the same device bind the same
    ``OrtValue`` instead of copying the batch each.
    """

    def __init__(self, array: np.ndarray, pad_to: int | None = None):
        self.array = array
        self.n = len(array)
        self.pad_to = pad_to
        self._padded: dict[int, np.ndarray] = {}
        self._on_device: dict[tuple[str, int, int], Any] = {}
        self.device_copies = 0  # how many host-to-device copies were made (tests check it is one per device)

    def padded(self, size: int) -> np.ndarray:
        """The batch with zero rows appended up to ``size`` (the batch itself when it is that long)."""
        if size <= self.n:
            return self.array
        if size not in self._padded:
            padding = np.zeros((size - self.n, *self.array.shape[1:]), dtype=self.array.dtype)
            self._padded[size] = np.ascontiguousarray(np.concatenate([self.array, padding]))
        return self._padded[size]

    def ortvalue(self, device_type: str, device_id: int, size: int):
        """The (padded) batch as an ``OrtValue`` on ``device_type:device_id``, made once per device."""
        key = (device_type, device_id, size)
        if key not in self._on_device:
            ort = _ort()
            self._on_device[key] = ort.OrtValue.ortvalue_from_numpy(
                np.ascontiguousarray(self.padded(size)), device_type, device_id
            )
            self.device_copies += 1
        return self._on_device[key]


def _fp16_model_bytes(path: Path) -> bytes:
    """The model at ``path`` with float16 weights and arithmetic, float32 inputs and outputs kept."""
    try:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as error:
        raise RunError(
            f"{path}: options.fp16 needs the onnx package (pip install 'uspec-audit[gpu]')."
        ) from error
    try:
        model = convert_float_to_float16(onnx.load(str(path)), keep_io_types=True)
    except Exception as error:
        raise RunError(
            f"{path}: cannot convert this model to float16 ({type(error).__name__}: {error})."
        ) from error
    return model.SerializeToString()


class OnnxMember:
    """A member backed by an onnxruntime ``InferenceSession``."""

    def __init__(self, path: Path, options: dict[str, Any], device: str):
        ort = _ort()
        self.name = path.stem
        self.path = path
        self.fingerprint = file_sha256(path)
        available = ort.get_available_providers()
        wanted = providers_for(device, available)
        if device in ("cuda", "tensorrt") and wanted[0] not in available:
            raise RunError(
                f"--device {device} was asked for, but this onnxruntime offers only {available}. Install "
                f"the GPU build (pip install 'uspec-audit[gpu]', without the CPU 'onnxruntime' beside it)."
            )
        session_options = ort.SessionOptions()
        # members run one after the other: idle pools must not spin, nor the active one on a busy machine
        session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session_options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        if _threads:
            session_options.intra_op_num_threads = _threads
        session_options.log_severity_level = 3
        self.fp16 = bool(options.get("fp16", False))
        source = _fp16_model_bytes(path) if self.fp16 else str(path)
        try:
            device_id = int(
                options.get("device_id", 0)
            )  # the GPU providers run on the same device we bind to
            chosen = [(name, {"device_id": device_id}) if name in _GPU_PROVIDERS else name for name in wanted]
            self.session = ort.InferenceSession(source, session_options, providers=chosen)
        except Exception as error:  # onnxruntime raises its own exception types for corrupt files
            raise RunError(
                f"{path}: onnxruntime cannot load this model ({type(error).__name__}: "
                f"{str(error).strip().splitlines()[0][:300]})."
            ) from error
        self.providers = list(self.session.get_providers())
        if device in ("cuda", "tensorrt") and self.providers[0] != wanted[0]:
            raise RunError(
                f"{path}: asked for {wanted[0]} but the session runs on {self.providers[0]} (is CUDA "
                f"available on this machine?)."
            )
        inputs = self.session.get_inputs()
        input_name = options.get("input_name")
        if input_name is None:
            # several inputs are fed by name from a tokenizer; a single array needs exactly one input
            self.input = inputs[0] if len(inputs) == 1 else None
        else:
            matching = [i for i in inputs if i.name == input_name]
            if not matching:
                raise RunError(f"{path}: no input named '{input_name}'; inputs: {[i.name for i in inputs]}.")
            self.input = matching[0]
        self.output_index = int(options.get("output_index", 0))
        outputs = self.session.get_outputs()
        if self.output_index >= len(outputs):
            raise RunError(
                f"{path}: output_index {self.output_index} but the model has {len(outputs)} outputs."
            )
        self.output_name = outputs[self.output_index].name
        self.output_shape = outputs[self.output_index].shape
        on_gpu = self.providers[0] in ("CUDAExecutionProvider", "TensorrtExecutionProvider")
        # On a GPU: IO binding (inputs copied once per device and shared, outputs fetched once) and a fixed batch
        # shape, since every new shape re-tunes cuDNN kernels (TensorRT rebuilds engines). Both can be forced on
        # the CPU (tests, or to compare).
        self.use_io_binding = bool(options.get("io_binding", on_gpu))
        self.pad_batches = bool(options.get("pad_batches", on_gpu))
        self.device_type = "cuda" if on_gpu else "cpu"
        self.device_id = int(options.get("device_id", 0))
        self._batch_size: int | None = None

    @property
    def _single_input(self) -> Any:
        """The one array input; a model fed named arrays (a tokenizer's) has none, which reads as a member
        without ``input_shape`` (an AttributeError, as before this property)."""
        if self.input is None:
            raise AttributeError("this ONNX member takes several named inputs, not one array")
        return self.input

    @property
    def input_shape(self) -> list:
        return list(self._single_input.shape)

    @property
    def input_dtype(self) -> str:
        return _ORT_TYPES.get(self._single_input.type, self._single_input.type)

    def _check_named(self, arrays: dict[str, np.ndarray]) -> None:
        for spec in self.session.get_inputs():
            if spec.name not in arrays:
                raise RunError(
                    f"{self.path}: the model needs input '{spec.name}', the tokenizer gives "
                    f"{sorted(arrays)}; map names with tokenizer options.names."
                )
            dtype = _ORT_TYPES.get(spec.type, spec.type)
            if str(arrays[spec.name].dtype) != dtype:
                raise RunError(
                    f"{self.path}: input '{spec.name}' expects dtype {dtype}, the tokenizer gives "
                    f"{arrays[spec.name].dtype}."
                )

    def check_input(self, example) -> None:
        """Fail before the run when the data's shape or dtype cannot feed this model."""
        if isinstance(example, dict):
            self._check_named(example)
            return
        if self.input is None:
            names = [i.name for i in self.session.get_inputs()]
            raise RunError(
                f"{self.path}: the model has inputs {names}; name the one to feed with input_name = "
                f'"..." in the ensemble table, or give a tokenizer for text models.'
            )
        expected = self.input_shape
        if len(expected) != example.ndim:
            raise RunError(
                f"{self.path}: input '{self.input.name}' expects {len(expected)} dimensions "
                f"{expected}, but the preprocessed data has shape {list(example.shape)}. Check the "
                f"ensemble's preprocess.layout and the dataset's input column."
            )
        for axis, (want, got) in enumerate(zip(expected, example.shape, strict=True)):
            if axis > 0 and isinstance(want, int) and want > 0 and want != got:
                raise RunError(
                    f"{self.path}: input '{self.input.name}' expects shape {expected}, the data gives "
                    f"{list(example.shape)} (axis {axis}: {want} vs {got})."
                )
        if self.input_dtype != str(example.dtype):
            raise RunError(
                f"{self.path}: input '{self.input.name}' expects dtype {self.input_dtype}, the data is "
                f'{example.dtype}; set preprocess.dtype = "{self.input_dtype}".'
            )

    def _fixed_size(self, n: int, pad_to: int | None) -> int:
        """The batch shape this member runs: the stream's batch size (or the largest seen) when padding."""
        if not self.pad_batches:
            return n
        self._batch_size = max(self._batch_size or 0, n, pad_to or 0)
        return self._batch_size

    def predict(self, x) -> np.ndarray:
        if isinstance(x, dict):  # several named inputs (a tokenizer's input_ids, attention_mask, ...)
            feeds = {spec.name: x[spec.name] for spec in self.session.get_inputs()}
            return self.session.run([self.output_name], feeds)[0]
        return self.predict_shared(SharedBatch(x))

    def predict_shared(self, batch: SharedBatch) -> np.ndarray:
        """Outputs for a batch that other members may share (padded and copied to the device once)."""
        n = batch.n
        size = self._fixed_size(n, batch.pad_to)
        if self.use_io_binding:
            binding = self.session.io_binding()
            binding.bind_ortvalue_input(
                self._single_input.name, batch.ortvalue(self.device_type, self.device_id, size)
            )
            binding.bind_output(self.output_name, self.device_type, self.device_id)
            self.session.run_with_iobinding(binding)
            output = binding.copy_outputs_to_cpu()[0]
        else:
            output = self.session.run([self.output_name], {self._single_input.name: batch.padded(size)})[0]
        return output[:n]


class OnnxOptions(BaseModel):
    """``options`` of an ensemble with ``loader = "onnx"``."""

    model_config = ConfigDict(extra="forbid")
    io_binding: bool | None = Field(None, description="Feed through IO binding (default: on a GPU only).")
    pad_batches: bool | None = Field(
        None,
        description="Pad the last batch to the batch size (default: on a GPU "
        "only; a new shape re-tunes GPU kernels).",
    )
    fp16: bool = Field(
        False,
        description="Convert the member to float16 at load (float32 inputs and outputs kept; "
        "needs the onnx package: pip install 'uspec-audit[gpu]').",
    )
    device_id: int = Field(0, ge=0, description="The GPU this member's session runs on (CUDA device number).")


def load_onnx(request: LoadRequest) -> OnnxMember:
    options = request.options.model_dump(exclude_none=True) if request.options is not None else {}
    options.update(output_index=request.output_index, input_name=request.input_name)
    return OnnxMember(request.path, options, request.device)


ONNX_LOADER = LoaderSpec(
    name="onnx",
    load=load_onnx,
    suffixes=(".onnx",),
    doc="ONNX model through onnxruntime; providers auto (CUDA when available) or --device.",
    options=OnnxOptions,
)
