"""The ``torch`` loader: TorchScript, ``torch.export`` archives and state dicts.

torch is imported only here, and only when an audit uses this loader.
Loading runs no pickled Python code by default: TorchScript (``.pt``/``.ts``),
``torch.export`` archives (``.pt2``), and state dicts loaded with
``weights_only=True`` into an architecture built by ``options.factory =
"package.module:function"`` -- a factory is imported only from modules the user
enabled with ``--allow-code`` (:mod:`uspec_audit.config.trust`). Arbitrary
pickles (a whole ``nn.Module`` saved with ``torch.save``) run code when loaded
and need ``options.allow_pickle = true``. TorchScript and ``.pt2`` programs are
run by torch's interpreter: a model file is trusted to be the model it claims.
"""

from __future__ import annotations

import logging
import os
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from uspec_audit.components import LoaderSpec
from uspec_audit.config.trust import import_callable
from uspec_audit.errors import RunError
from uspec_audit.fingerprint import file_sha256
from uspec_audit.protocols import LoadRequest


def _torch():
    try:
        import torch
    except ImportError as error:
        raise RunError("The torch loader needs PyTorch: pip install 'uspec-audit[torch]'.") from error
    return torch


_OPAQUE = "opaque_obj_"  # torch.export's file-name prefix of pickled constants (pt2_archive_constants)
_FORCE_WEIGHTS_ONLY = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"


def _factory(spec: str):
    return import_callable(spec, "options.factory")


class _Collect(logging.Handler):
    """Keeps the first line of each log record (torch logs its deserialisation errors with a traceback)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.lines.append(
                f"{type(record.exc_info[1]).__name__}: {str(record.exc_info[1]).splitlines()[0][:300]}"
            )
        else:
            self.lines.append(record.getMessage().splitlines()[0][:300])


@contextmanager
def _quiet_torch_export():
    """Keep torch.export's logged tracebacks off the terminal; yield the collected lines for our message."""
    logger = logging.getLogger("torch.export")
    handler, saved, propagate = _Collect(), list(logger.handlers), logger.propagate
    logger.handlers, logger.propagate = [handler], False  # torch attaches its own stderr handler here
    try:
        yield handler.lines
    finally:
        logger.handlers, logger.propagate = saved, propagate


@contextmanager
def _no_pickle(path: Path, options: dict[str, Any]):
    """Load a ``torch.export`` archive without unpickling arbitrary objects.

    An archive stores weights and constants as raw tensors, but the format also allows pickled payloads
    (``use_pickle`` weights, "opaque" constants, sample inputs) that ``torch.export.load`` unpickles with
    the unrestricted unpickler -- code from the file would run. Unless ``allow_pickle = true``: archives with
    opaque objects are refused before loading, and every ``torch.load`` inside is forced to
    ``weights_only`` (torch's own ``TORCH_FORCE_WEIGHTS_ONLY_LOAD`` switch), which refuses other pickles.
    """
    if options.get("allow_pickle"):
        yield
        return
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as error:
        raise RunError(f"{path}: not a torch.export archive ({error}).") from error
    if any(_OPAQUE in name for name in names):
        raise RunError(
            f"{path}: the archive holds pickled Python objects, which run code when loaded; only with "
            f"allow_pickle = true in the ensemble's options, for files you trust."
        )
    previous = os.environ.get(_FORCE_WEIGHTS_ONLY)
    os.environ[_FORCE_WEIGHTS_ONLY] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(_FORCE_WEIGHTS_ONLY, None)
        else:
            os.environ[_FORCE_WEIGHTS_ONLY] = previous


class TorchMember:
    """A member backed by a torch module in eval mode."""

    def __init__(self, path: Path, options: dict[str, Any], device: str):
        torch = _torch()
        self.name = path.stem
        self.path = path
        self.fingerprint = file_sha256(path)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise RunError("--device cuda was asked for, but torch sees no CUDA device.")
        self.device = torch.device("cuda" if device in ("cuda", "tensorrt") else "cpu")
        self.providers = [f"torch:{self.device.type}"]
        self.output_index = int(options.get("output_index", 0))
        self.module = self._load(torch, path, options)
        try:
            self.module.eval()
        except NotImplementedError:  # torch.export modules are already in inference form
            pass

    def _load(self, torch, path: Path, options: dict[str, Any]):
        suffix = path.suffix.lower()
        try:
            if suffix == ".pt2":
                with _quiet_torch_export() as logged, _no_pickle(path, options):
                    try:
                        return torch.export.load(str(path)).module().to(self.device)
                    except Exception as error:
                        reason = (
                            logged[0] if logged else f"{type(error).__name__}: {str(error).strip()}"
                        ).split(". ")[0]
                        raise RunError(
                            f"{path}: not a torch.export archive that this torch can load ({reason}). "
                            f"Save models with torch.export.save."
                        ) from error
            if options.get("factory"):
                factory = _factory(options["factory"])  # refused before reading anything unless enabled
                state = torch.load(str(path), map_location=self.device, weights_only=True)
                if isinstance(state, dict) and "state_dict" in state:
                    state = state["state_dict"]
                module = factory(**options.get("factory_kwargs", {}))
                module.load_state_dict(state)
                return module.to(self.device)
            try:
                return torch.jit.load(str(path), map_location=self.device)
            except RuntimeError as jit_error:
                if not options.get("allow_pickle"):
                    raise RunError(
                        f"{path}: not a TorchScript file ({str(jit_error).splitlines()[0][:200]}). Save models with "
                        f"torch.jit.save or torch.export.save, or give a state dict with factory = "
                        f"'package.module:function'. Loading an arbitrary pickle runs code from the file: only with "
                        f"allow_pickle = true in the ensemble's options, for files you trust."
                    ) from jit_error
                module = torch.load(str(path), map_location=self.device, weights_only=False)
                if not isinstance(module, torch.nn.Module):
                    raise RunError(
                        f"{path}: the pickle holds a {type(module).__name__}, not a torch.nn.Module."
                    ) from None
                return module
        except RunError:
            raise
        except Exception as error:
            raise RunError(
                f"{path}: torch cannot load this model ({type(error).__name__}: "
                f"{str(error).strip().splitlines()[0][:300] if str(error).strip() else ''})."
            ) from error

    def check_input(self, example) -> None:
        """Run two examples through the model: a shape or dtype mismatch fails here, before the run."""
        try:
            self.predict({k: v[:2] for k, v in example.items()} if isinstance(example, dict) else example[:2])
        except Exception as error:
            shape = (
                {k: list(v.shape) for k, v in example.items()}
                if isinstance(example, dict)
                else list(example.shape)
            )
            raise RunError(
                f"{self.path}: the model rejects preprocessed data of shape {shape} "
                f"({type(error).__name__}: {str(error).splitlines()[0][:300]})."
            ) from error

    def predict(self, x) -> np.ndarray:
        torch = _torch()
        with torch.inference_mode():
            if isinstance(x, dict):  # named inputs from a tokenizer, passed as keyword arguments
                output = self.module(
                    **{k: torch.from_numpy(np.ascontiguousarray(v)).to(self.device) for k, v in x.items()}
                )
            else:
                output = self.module(torch.from_numpy(np.ascontiguousarray(x)).to(self.device))
            if isinstance(output, tuple | list):
                output = output[self.output_index]
            elif isinstance(output, dict):
                output = list(output.values())[self.output_index]
            return output.detach().float().cpu().numpy()


class TorchOptions(BaseModel):
    """``options`` of an ensemble with ``loader = "torch"``."""

    model_config = ConfigDict(extra="forbid")
    factory: str | None = Field(
        None,
        description="'package.module:function' building the architecture of a state "
        "dict (imported only with --allow-code package.module).",
    )
    factory_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments of the factory."
    )
    allow_pickle: bool = Field(
        False, description="Load arbitrary pickles (they run code when loaded): only for files you trust."
    )


def load_torch(request: LoadRequest) -> TorchMember:
    options = request.options.model_dump(exclude_none=True) if request.options is not None else {}
    options["output_index"] = request.output_index
    return TorchMember(request.path, options, request.device)


TORCH_LOADER = LoaderSpec(
    name="torch",
    load=load_torch,
    suffixes=(".pt", ".ts", ".pt2", ".pth"),
    doc="TorchScript, torch.export (.pt2), or weights_only state dict + factory; pickles only with allow_pickle.",
    options=TorchOptions,
)
