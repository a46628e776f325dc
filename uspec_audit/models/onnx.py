"""The ``onnx`` loader: one onnxruntime session per member.

Providers are chosen automatically (TensorRT/CUDA when the installed
onnxruntime offers them, else CPU) or by ``--device``; the providers a session
really uses are recorded, and a device that was asked for but is not in use
is an error rather than a silent CPU fallback. On the CPU every session shares
one global thread pool when the ``uspec-audit`` command runs (the process is
then ours alone), so many members do not oversubscribe the cores. Used as a
library, sessions keep their own pools (an onnxruntime global pool would force
every other session in the host process to opt in) with spin-waiting off.
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
_global_pool = False


def enable_global_thread_pool() -> None:
    """Share one onnxruntime thread pool between all sessions of this process (the CLI calls this first).

    ``USPEC_AUDIT_THREADS`` sets its size (default: one thread per core).
    """
    global _global_pool
    import onnxruntime

    if not _global_pool:
        onnxruntime.set_global_thread_pool_sizes(int(os.environ.get("USPEC_AUDIT_THREADS", "0")), 1)
        _global_pool = True


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
            raise RunError(f"--device {device} was asked for, but this onnxruntime offers only {available}. Install "
                           f"the GPU build (pip install 'uspec-audit[gpu]', without the CPU 'onnxruntime' beside it).")
        session_options = ort.SessionOptions()
        if _global_pool:
            session_options.use_per_session_threads = False
        else:  # members run one after the other: idle pools must not spin and steal the active one's cores
            session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session_options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), session_options, providers=wanted)
        except Exception as error:  # onnxruntime raises its own exception types for corrupt files
            raise RunError(f"{path}: onnxruntime cannot load this model ({type(error).__name__}: "
                           f"{str(error).strip().splitlines()[0][:300]}).") from error
        self.providers = list(self.session.get_providers())
        if device in ("cuda", "tensorrt") and self.providers[0] != wanted[0]:
            raise RunError(f"{path}: asked for {wanted[0]} but the session runs on {self.providers[0]} (is CUDA "
                           f"available on this machine?).")
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
            raise RunError(f"{path}: output_index {self.output_index} but the model has {len(outputs)} outputs.")
        self.output_name = outputs[self.output_index].name
        self.output_shape = outputs[self.output_index].shape
        on_gpu = self.providers[0] in ("CUDAExecutionProvider", "TensorrtExecutionProvider")
        # On a GPU: IO binding (inputs copied once, outputs fetched once) and a fixed batch shape, since every
        # new shape re-tunes cuDNN kernels. Both can be forced on the CPU (tests, or to compare).
        self.use_io_binding = bool(options.get("io_binding", on_gpu))
        self.pad_batches = bool(options.get("pad_batches", on_gpu))
        self._batch_size: int | None = None

    @property
    def input_shape(self) -> list:
        return list(self.input.shape)

    @property
    def input_dtype(self) -> str:
        return _ORT_TYPES.get(self.input.type, self.input.type)

    def _check_named(self, arrays: dict[str, np.ndarray]) -> None:
        for spec in self.session.get_inputs():
            if spec.name not in arrays:
                raise RunError(f"{self.path}: the model needs input '{spec.name}', the tokenizer gives "
                               f"{sorted(arrays)}; map names with tokenizer options.names.")
            dtype = _ORT_TYPES.get(spec.type, spec.type)
            if str(arrays[spec.name].dtype) != dtype:
                raise RunError(f"{self.path}: input '{spec.name}' expects dtype {dtype}, the tokenizer gives "
                               f"{arrays[spec.name].dtype}.")

    def check_input(self, example) -> None:
        """Fail before the run when the data's shape or dtype cannot feed this model."""
        if isinstance(example, dict):
            self._check_named(example)
            return
        if self.input is None:
            names = [i.name for i in self.session.get_inputs()]
            raise RunError(f"{self.path}: the model has inputs {names}; name the one to feed with input_name = "
                           f"\"...\" in the ensemble table, or give a tokenizer for text models.")
        expected = self.input_shape
        if len(expected) != example.ndim:
            raise RunError(f"{self.path}: input '{self.input.name}' expects {len(expected)} dimensions "
                           f"{expected}, but the preprocessed data has shape {list(example.shape)}. Check the "
                           f"ensemble's preprocess.layout and the dataset's input column.")
        for axis, (want, got) in enumerate(zip(expected, example.shape, strict=True)):
            if axis > 0 and isinstance(want, int) and want > 0 and want != got:
                raise RunError(f"{self.path}: input '{self.input.name}' expects shape {expected}, the data gives "
                               f"{list(example.shape)} (axis {axis}: {want} vs {got}).")
        if self.input_dtype != str(example.dtype):
            raise RunError(f"{self.path}: input '{self.input.name}' expects dtype {self.input_dtype}, the data is "
                           f"{example.dtype}; set preprocess.dtype = \"{self.input_dtype}\".")

    def predict(self, x) -> np.ndarray:
        if isinstance(x, dict):  # several named inputs (a tokenizer's input_ids, attention_mask, ...)
            feeds = {spec.name: x[spec.name] for spec in self.session.get_inputs()}
            return self.session.run([self.output_name], feeds)[0]
        n = len(x)
        if self.pad_batches:
            if self._batch_size is None or n > self._batch_size:
                self._batch_size = n
            if n < self._batch_size:
                padding = np.zeros((self._batch_size - n, *x.shape[1:]), dtype=x.dtype)
                x = np.concatenate([x, padding])
        if self.use_io_binding:
            binding = self.session.io_binding()
            binding.bind_cpu_input(self.input.name, np.ascontiguousarray(x))
            binding.bind_output(self.output_name)
            self.session.run_with_iobinding(binding)
            output = binding.copy_outputs_to_cpu()[0]
        else:
            output = self.session.run([self.output_name], {self.input.name: x})[0]
        return output[:n]


class OnnxOptions(BaseModel):
    """``options`` of an ensemble with ``loader = "onnx"``."""

    model_config = ConfigDict(extra="forbid")
    io_binding: bool | None = Field(None, description="Feed through IO binding (default: on a GPU only).")
    pad_batches: bool | None = Field(None, description="Pad the last batch to the batch size (default: on a GPU "
                                                       "only; a new shape re-tunes GPU kernels).")


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
