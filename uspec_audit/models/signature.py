"""A model's declared inputs, read from the file without loading the model: for ``uspec-audit validate``.

ONNX files are protobuf: the graph's ``input`` entries (name, element type,
dimensions) sit next to its initializers (the weights). A small wire-format
walker over a memory map reads those entries and skips every other field by
its length, so a 2 GB model costs a few page reads, not a session. Inputs that
are also initializers (models exported before IR version 4) are weights, not
inputs, and are left out.

Field numbers from onnx.proto: ModelProto.graph = 7; GraphProto.initializer = 5,
input = 11; TensorProto.name = 8; ValueInfoProto.name = 1, type = 2;
TypeProto.tensor_type = 1; Tensor.elem_type = 1, shape = 2;
TensorShapeProto.dim = 1; Dimension.dim_value = 1, dim_param = 2.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path

ELEMENT_TYPES = {
    1: "float32",
    2: "uint8",
    3: "int8",
    4: "uint16",
    5: "int16",
    6: "int32",
    7: "int64",
    8: "string",
    9: "bool",
    10: "float16",
    11: "float64",
    12: "uint32",
    13: "uint64",
    16: "bfloat16",
}


@dataclass(frozen=True)
class ModelInput:
    """One declared input: ``dims`` holds ints for fixed sizes and strings (or None) for free ones."""

    name: str
    dtype: str
    dims: tuple[int | str | None, ...] | None  # None: the rank is not declared


class SignatureError(Exception):
    """The file is not a protobuf this reader understands."""


def _varint(buf, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise SignatureError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise SignatureError("varint too long")


def _fields(buf, start: int, end: int):
    """Yield (field number, wire type, value) of one message; value is an int or a (start, end) span."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | tuple[int, int] | None
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = None, pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = (pos, pos + length), pos + length
        elif wire == 5:
            value, pos = None, pos + 4
        else:
            raise SignatureError(f"unsupported wire type {wire}")
        if pos > end:
            raise SignatureError("field runs past its message")
        yield number, wire, value


def _text(buf, span) -> str:
    return bytes(buf[span[0] : span[1]]).decode("utf-8", errors="replace")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _dims(buf, span) -> tuple[int | str | None, ...]:
    dims: list[int | str | None] = []
    for number, wire, value in _fields(buf, *span):
        if number != 1 or wire != 2:
            continue
        dim: int | str | None = None
        for inner, inner_wire, inner_value in _fields(buf, *value):
            if inner == 1 and inner_wire == 0:
                dim = _signed(inner_value)
            elif inner == 2 and inner_wire == 2:
                dim = _text(buf, inner_value)
        dims.append(dim)
    return tuple(dims)


def _value_info(buf, span) -> ModelInput | None:
    name, dtype, dims = "", "unknown", None
    for number, wire, value in _fields(buf, *span):
        if number == 1 and wire == 2:
            name = _text(buf, value)
        elif number == 2 and wire == 2:
            for type_field, type_wire, type_value in _fields(buf, *value):
                if type_field != 1 or type_wire != 2:
                    continue
                for tensor_field, tensor_wire, tensor_value in _fields(buf, *type_value):
                    if tensor_field == 1 and tensor_wire == 0:
                        dtype = ELEMENT_TYPES.get(tensor_value, f"type {tensor_value}")
                    elif tensor_field == 2 and tensor_wire == 2:
                        dims = _dims(buf, tensor_value)
    return ModelInput(name, dtype, dims) if name else None


def onnx_inputs(path: Path) -> list[ModelInput]:
    """The graph inputs of an ONNX file (weights excluded); raise :class:`SignatureError` or OSError."""
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        graph = next(
            (value for number, wire, value in _fields(buf, 0, len(buf)) if number == 7 and wire == 2), None
        )
        if graph is None:
            raise SignatureError("no graph")
        inputs: list[ModelInput] = []
        initializers: set[str] = set()
        for number, wire, value in _fields(buf, *graph):
            if number == 11 and wire == 2:
                entry = _value_info(buf, value)
                if entry is not None:
                    inputs.append(entry)
            elif number == 5 and wire == 2:
                for tensor_field, tensor_wire, tensor_value in _fields(buf, *value):
                    if tensor_field == 8 and tensor_wire == 2:
                        initializers.add(_text(buf, tensor_value))
        return [i for i in inputs if i.name not in initializers]


def declared_inputs(loader: str, path: Path) -> list[ModelInput] | None:
    """The inputs a member declares, or None when its loader declares none before loading (torch, plugins)."""
    if loader != "onnx":
        return None
    return onnx_inputs(path)
