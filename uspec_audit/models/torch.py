"""The ``torch`` loader: TorchScript, ``torch.export`` archives and state dicts.

torch is imported only here, and only when an audit uses this loader.
Loading is safe by default: TorchScript (``.pt``/``.ts``), ``torch.export``
archives (``.pt2``), and state dicts loaded with ``weights_only=True`` into an
architecture built by ``options.factory = "package.module:function"``.
Arbitrary pickles (a whole ``nn.Module`` saved with ``torch.save``) run code
when loaded and need ``options.allow_pickle = true``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from uspec_audit.components import LoaderSpec
from uspec_audit.errors import RunError
from uspec_audit.fingerprint import file_sha256


def _torch():
    try:
        import torch
    except ImportError as error:
        raise RunError("The torch loader needs PyTorch: pip install 'uspec-audit[torch]'.") from error
    return torch


def _factory(spec: str):
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise RunError(f"factory '{spec}' must look like 'package.module:function'.")
    try:
        return getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as error:
        raise RunError(f"factory '{spec}' cannot be imported ({error}).") from error


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
                return torch.export.load(str(path)).module().to(self.device)
            if options.get("factory"):
                state = torch.load(str(path), map_location=self.device, weights_only=True)
                if isinstance(state, dict) and "state_dict" in state:
                    state = state["state_dict"]
                module = _factory(options["factory"])(**options.get("factory_kwargs", {}))
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
                    raise RunError(f"{path}: the pickle holds a {type(module).__name__}, not a torch.nn.Module.") from None
                return module
        except RunError:
            raise
        except Exception as error:
            raise RunError(f"{path}: torch cannot load this model ({type(error).__name__}: "
                           f"{str(error).strip().splitlines()[0][:300] if str(error).strip() else ''}).") from error

    def check_input(self, example) -> None:
        """Run two examples through the model: a shape or dtype mismatch fails here, before the run."""
        try:
            self.predict({k: v[:2] for k, v in example.items()} if isinstance(example, dict) else example[:2])
        except Exception as error:
            shape = {k: list(v.shape) for k, v in example.items()} if isinstance(example, dict) else list(example.shape)
            raise RunError(f"{self.path}: the model rejects preprocessed data of shape {shape} "
                           f"({type(error).__name__}: {str(error).splitlines()[0][:300]}).") from error

    def predict(self, x) -> np.ndarray:
        torch = _torch()
        with torch.inference_mode():
            if isinstance(x, dict):  # named inputs from a tokenizer, passed as keyword arguments
                output = self.module(**{k: torch.from_numpy(np.ascontiguousarray(v)).to(self.device)
                                        for k, v in x.items()})
            else:
                output = self.module(torch.from_numpy(np.ascontiguousarray(x)).to(self.device))
            if isinstance(output, tuple | list):
                output = output[self.output_index]
            elif isinstance(output, dict):
                output = list(output.values())[self.output_index]
            return output.detach().float().cpu().numpy()


def load_torch(path: Path, options: dict[str, Any], device: str) -> TorchMember:
    return TorchMember(path, options, device)


TORCH_LOADER = LoaderSpec(
    name="torch",
    load=load_torch,
    suffixes=(".pt", ".ts", ".pt2", ".pth"),
    doc="TorchScript, torch.export (.pt2), or weights_only state dict + factory; pickles only with allow_pickle.",
)
