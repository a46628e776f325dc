"""Tokenizers: raw texts (after text perturbations) to a text model's named integer inputs.

A tokenizer follows :class:`uspec_audit.Tokenizer`; a ``TokenizerSpec`` makes one
from an ensemble's ``tokenizer = { name = "...", path = "...", options = {...} }``.
The built-in ``tokenizers`` entry, :class:`TokenizersTokenizer`, reads a local
HuggingFace ``tokenizer.json`` with the ``tokenizers`` package (imported on first
use; nothing is downloaded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from uspec_audit.components import TokenizerSpec
from uspec_audit.protocols import TokenizerRequest


class TokenizersTokenizer:
    """A :class:`Tokenizer` backed by a local HuggingFace ``tokenizer.json``.

    ``path``: the ``tokenizer.json`` file or a folder holding one (never a hub
    name: nothing is downloaded). Outputs are truncated to ``max_length`` and
    padded to ``max_length`` (``padding="max_length"``, fixed shapes for
    exported models) or to the longest text of the batch (``"longest"``).
    ``names`` maps the produced arrays (``input_ids``, ``attention_mask``,
    ``token_type_ids``) to the model's input names; arrays not in ``names`` are
    left out. The ``tokenizers`` package is imported on first use.
    """

    DEFAULT_NAMES = {"input_ids": "input_ids", "attention_mask": "attention_mask"}

    def __init__(
        self,
        path: str | Path,
        max_length: int = 128,
        padding: Literal["max_length", "longest"] = "max_length",
        pad_token: str | None = None,
        names: dict[str, str] | None = None,
    ) -> None:
        path = Path(path)
        if path.is_dir():
            path = path / "tokenizer.json"
        if not path.is_file():
            raise FileNotFoundError(f"tokenizer file not found: {path}")
        if max_length < 1:
            raise ValueError("max_length must be at least 1")
        self.path = path
        self.max_length = int(max_length)
        self.padding = padding
        self.pad_token = pad_token
        self.names = dict(names) if names is not None else dict(self.DEFAULT_NAMES)
        self._tok: Any = None  # a tokenizers.Tokenizer, loaded on first use
        self._pad_id = 0

    def _load(self):
        if self._tok is None:
            try:
                from tokenizers import Tokenizer as HFTokenizer
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise ImportError(
                    "TokenizersTokenizer needs the 'tokenizers' package: pip install tokenizers"
                ) from exc
            tok = HFTokenizer.from_file(str(self.path))
            tok.no_padding()
            tok.enable_truncation(max_length=self.max_length)
            pad = self.pad_token
            if pad is None:
                pad = next((t for t in ("[PAD]", "<pad>", "<PAD>") if tok.token_to_id(t) is not None), None)
            pid = tok.token_to_id(pad) if pad is not None else None
            if self.pad_token is not None and pid is None:
                raise ValueError(f"pad token {self.pad_token!r} is not in the vocabulary of {self.path}")
            self._pad_id = int(pid) if pid is not None else 0
            self._tok = tok
        return self._tok

    def encode_batch(self, texts: list[str]) -> dict[str, np.ndarray]:
        tok = self._load()
        items = [tuple(t) if isinstance(t, (tuple, list, np.ndarray)) else t for t in texts]
        encs = tok.encode_batch(items) if items else []
        width = (
            self.max_length if self.padding == "max_length" else max((len(e.ids) for e in encs), default=0)
        )
        b = len(encs)
        arrays = {
            "input_ids": np.full((b, width), self._pad_id, dtype=np.int64),
            "attention_mask": np.zeros((b, width), dtype=np.int64),
            "token_type_ids": np.zeros((b, width), dtype=np.int64),
        }
        for i, e in enumerate(encs):
            n = min(len(e.ids), width)
            arrays["input_ids"][i, :n] = e.ids[:n]
            arrays["attention_mask"][i, :n] = 1
            arrays["token_type_ids"][i, :n] = e.type_ids[:n]
        unknown = set(self.names) - set(arrays)
        if unknown:
            raise ValueError(f"unknown tokenizer outputs {sorted(unknown)}; available: {sorted(arrays)}")
        return {model_name: arrays[ours] for ours, model_name in self.names.items()}


class TokenizersOptions(BaseModel):
    """``tokenizer.options`` of the built-in ``tokenizers`` tokenizer."""

    model_config = ConfigDict(extra="forbid")
    padding: Literal["max_length", "longest"] = Field(
        "max_length",
        description="Pad to max_length (fixed shapes for exported models) or to the batch's longest text.",
    )
    pad_token: str | None = Field(
        None, description="Padding token (default: [PAD], <pad> or <PAD>, else id 0)."
    )
    names: dict[str, str] | None = Field(
        None,
        description="Produced array (input_ids, attention_mask, token_type_ids) -> model input name; "
        "arrays not named are left out (default: input_ids and attention_mask).",
    )


def make_tokenizers_tokenizer(request: TokenizerRequest) -> TokenizersTokenizer:
    """The ``tokenizers`` tokenizer of an ensemble (its ``path`` is required)."""
    if request.path is None:
        raise ValueError(
            "the tokenizers tokenizer needs `path` (a tokenizer.json file or a folder holding one)"
        )
    options = request.options or TokenizersOptions()
    return TokenizersTokenizer(
        request.path,
        max_length=request.max_length,
        padding=options.padding,
        pad_token=options.pad_token,
        names=options.names,
    )


TOKENIZERS = TokenizerSpec(
    name="tokenizers",
    make=make_tokenizers_tokenizer,
    doc="A local tokenizer.json loaded with the HuggingFace `tokenizers` library; path and max_length, "
    "options: padding (max_length|longest), pad_token, names (produced array -> model input name).",
    options=TokenizersOptions,
)
