"""The public protocols of uspec-audit: what a plugin's objects must provide, and what they receive.

A loader returns a :class:`Member`, a dataset source a :class:`DatasetReader`,
a tokenizer factory a :class:`Tokenizer`. Each factory receives one request
object (:class:`LoadRequest`, :class:`SourceRequest`, :class:`TokenizerRequest`)
holding everything the engine knows about the call; request objects only ever
gain fields (with defaults), so a plugin written against this version keeps
working. The engine checks an object against its protocol right after the
factory returns it and names the plugin, the component and the audit key when
something is missing (:mod:`uspec_audit.conformance`).

This module imports nothing heavy: the protocols are for type checkers and
for ``isinstance`` checks (they are ``runtime_checkable``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover - types only
    import numpy as np
    import pandas as pd

    from uspec_audit.batch import Batch
    from uspec_audit.config.models import Dataset

SpecT = TypeVar("SpecT")

Register: TypeAlias = Callable[[SpecT], None]
"""The callback a hook receives: ``Register[LoaderSpec]`` accepts one :class:`~uspec_audit.LoaderSpec` per call.

Call it once per component. A spec of the wrong type, an invalid spec or a name
another plugin also registers is reported by ``uspec-audit plugins`` and left
out; the plugin's other components stay available.
"""


def _resolve(base_dir: Path, relative: str | Path) -> Path:
    path = Path(relative).expanduser()
    return path if path.is_absolute() else (base_dir / path).resolve()


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class LoadRequest:
    """Everything a loader receives: ``LoaderSpec.load(request) -> Member``.

    Attributes:
        path: the member's model file (or folder), absolute.
        name: the member's name in the audit (file stem or ``[[member]] name``). Results use this name;
            the loader need not store it and the engine never writes to the member.
        ensemble: the key of ``[ensembles.NAME]``.
        options: the ensemble's ``options = {...}`` validated by ``LoaderSpec.options`` (an instance of
            that pydantic model), or ``None`` when the loader declares no options model.
        device: ``auto``, ``cpu``, ``cuda`` or ``tensorrt`` (``--device``). A loader that cannot honour
            an explicit device raises rather than silently falling back.
        output_index: which of the model's outputs holds the predictions (``output_index`` of the
            ensemble table, default 0); loaders of single-output models may ignore it.
        input_name: the model input to feed (``input_name`` of the ensemble table), or ``None``.
        task: ``multiclass``, ``binary`` or ``regression``.
        base_dir: the audit file's folder; resolve relative paths in options with :meth:`resolve`.
    """

    path: Path
    name: str
    ensemble: str
    options: Any
    device: str = "auto"
    output_index: int = 0
    input_name: str | None = None
    task: str = "multiclass"
    base_dir: Path = Path(".")

    def resolve(self, relative: str | Path) -> Path:
        """``relative`` resolved against the audit file's folder (absolute paths are kept)."""
        return _resolve(self.base_dir, relative)


@dataclass(frozen=True)
class SourceRequest:
    """Everything a dataset source receives: ``DatasetSourceSpec.open(request) -> DatasetReader``.

    Attributes:
        name: the key of ``[datasets.NAME]``.
        config: the whole ``[datasets.NAME]`` table, validated (:class:`uspec_audit.config.models.Dataset`):
            ``path``, ``input``, ``target``, ``id``, ``attributes``, ``features``, ``shape``, ``limit``...
        options: the table's ``options = {...}`` validated by ``DatasetSourceSpec.options``, or ``None``
            when the source declares no options model.
        base_dir: the audit file's folder.
    """

    name: str
    config: Dataset
    options: Any
    base_dir: Path

    @property
    def path(self) -> Path:
        """The dataset's ``path``, resolved against the audit file's folder."""
        return _resolve(self.base_dir, self.config.path)

    def resolve(self, relative: str | Path) -> Path:
        """``relative`` resolved against the audit file's folder (absolute paths are kept)."""
        return _resolve(self.base_dir, relative)


@dataclass(frozen=True)
class TokenizerRequest:
    """Everything a tokenizer factory receives: ``TokenizerSpec.make(request) -> Tokenizer``.

    Attributes:
        ensemble: the key of the ``[ensembles.NAME]`` whose ``tokenizer = {...}`` this is.
        path: the tokenizer's ``path``, resolved, or ``None`` when not given. The engine hashes this
            file into the cache key itself.
        max_length: truncate and pad to this many tokens.
        options: the ``tokenizer.options`` validated by ``TokenizerSpec.options``, or ``None``.
        base_dir: the audit file's folder.
    """

    ensemble: str
    path: Path | None
    max_length: int
    options: Any
    base_dir: Path

    def resolve(self, relative: str | Path) -> Path:
        """``relative`` resolved against the audit file's folder (absolute paths are kept)."""
        return _resolve(self.base_dir, relative)


# --------------------------------------------------------------------------- protocols


@runtime_checkable
class Member(Protocol):
    """A loaded ensemble member, ready to predict (what a loader returns).

    Required:
        fingerprint: a string that changes whenever the model's behaviour can change, usually the
            sha256 of the file(s) it was loaded from (:func:`uspec_audit.file_sha256`).
            Part of every cache key and recorded in the manifest as the member's hash.
        providers: where it runs, e.g. ``["CPUExecutionProvider"]`` or ``["torch:cuda"]``; recorded
            in the manifest.
        predict(x): raw outputs for one batch, a ``numpy`` array with one row per example: logits,
            probabilities or scores (``output`` of the ensemble table says which), or one value per
            example for regression. ``x`` is the preprocessed batch (a ``numpy`` array), or for text
            models the tokenizer's ``{input name: int64 array}``.

    Optional (used when present):
        input_shape: the declared input shape (``None`` or strings for free axes), which
            ``preprocess.layout = "auto"`` resolves against.
        check_input(x): called once with the first batch; raise
            :class:`~uspec_audit.errors.RunError` with a clear message when the data cannot feed the
            model (shape, dtype), before any result is computed.

    A member may be a frozen dataclass: the engine keeps the member's audit name itself
    (:attr:`LoadRequest.name`) and never sets attributes on it.
    """

    fingerprint: str
    providers: list[str]

    def predict(self, x: Any) -> np.ndarray: ...


@runtime_checkable
class DatasetReader(Protocol):
    """What a dataset source returns: reads one ``[datasets.NAME]`` table's data.

    Subclass :class:`uspec_audit.BaseDatasetReader` to get ``fingerprint``, ``content_hash``,
    ``feature_names`` and the metadata helpers; then only ``num_examples``, ``metadata`` and
    ``iter_batches`` are yours to write.

    Required:
        path: the file or folder read (messages, the manifest).
        num_examples: the number of examples, known after opening (before ``limit``).
        feature_names: the names of the input features (tabular data), else ``None``. Perturbations
            that act per feature receive them in ``PerturbContext.feature_names``.
        metadata(): a ``pandas.DataFrame`` with one row per example, in stream order: column ``id``
            (stable, unique example ids), ``target`` and one column per name in the table's
            ``attributes``. It must not read the inputs (images, texts): strata and the checks need it
            before inference.
        iter_batches(batch_size): yields :class:`uspec_audit.Batch` objects of at most ``batch_size``
            examples, in the same order as ``metadata()``, every call from the start. Memory must stay
            bounded by the batch size, not the dataset size.
        fingerprint(): a string that changes whenever what the reader yields can change. It must cover
            the content of every byte read (``content_hash()``) and every setting that changes what is
            read: the columns, ``shape``, ``limit``, ``features`` and the source's options. It need not
            cover the source's code: the engine adds the plugin's identity (package, version, code hash)
            to it. Part of every cache key.
        content_hash(): the sha256 of the data alone (recorded in the manifest).
    """

    path: Path
    num_examples: int

    @property
    def feature_names(self) -> list[str] | None: ...

    def metadata(self) -> pd.DataFrame: ...

    def iter_batches(self, batch_size: int) -> Iterator[Batch]: ...

    def fingerprint(self) -> str: ...

    def content_hash(self) -> str: ...


@runtime_checkable
class Tokenizer(Protocol):
    """Turns raw texts into a model's named integer inputs (what a tokenizer factory returns).

    Required:
        encode_batch(texts): ``{model input name: int64 array (B, L)}``, e.g. ``input_ids`` and
            ``attention_mask``. Texts are ``str``, or ``tuple`` of ``str`` for pair tasks (premise,
            hypothesis). Text perturbations run before it, on the raw strings.

    Optional (used when present):
        fingerprint: a hash of everything the tokenizer read besides the ``path`` the audit names
            (a vocabulary folder, merges): it joins the cache key. The engine always adds the sha256
            of ``path`` when the ensemble gives one.
    """

    def encode_batch(self, texts: list[Any]) -> dict[str, np.ndarray]: ...


__all__ = [
    "DatasetReader",
    "LoadRequest",
    "Member",
    "Register",
    "SourceRequest",
    "Tokenizer",
    "TokenizerRequest",
]
