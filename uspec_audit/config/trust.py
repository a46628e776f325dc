"""What an audit file may make the tool do besides reading files: run code, write somewhere.

Audit files are passed around like data (a colleague's audit, one attached to a
ticket), so an audit file on its own can neither run code nor write outside
its own folder:

- **Code.** A ``factory = "package.module:function"`` option makes the tool
  import a module and call a function. It runs only for modules that the
  person running the command enables with ``--allow-code MODULE`` (the module
  or a package above it); nothing in the audit file can enable it. Python's
  standard library, builtins and uspec-audit's own modules are never allowed,
  even when named, and neither is a function that another module merely
  re-exports from them.
- **Output.** ``[audit] output`` must stay inside the audit file's folder (its
  real path, links resolved); a results folder elsewhere is chosen on the
  command line with ``--out``.
- **Special files.** A path it names may not be a FIFO, a device or a socket
  (:func:`refuse_special_files`, called by ``check_audit`` before it reads any
  file header).

The loaders call :func:`import_callable`, which applies the same rules at
import time, so a code path that skipped validation still cannot import a
module the user did not enable.
"""

from __future__ import annotations

import importlib
import os
import re
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from uspec_audit.errors import AuditFileError, RunError
from uspec_audit.files import file_kind

if TYPE_CHECKING:
    from uspec_audit.config.loaded import LoadedAudit

NEVER_ALLOWED = frozenset(sys.stdlib_module_names) | {"__main__", "builtins", "uspec_audit"}
CODE_KEYS = ("factory",)  # option keys whose value names code to import and call
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_FUNCTION = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_allowed: ContextVar[tuple[str, ...]] = ContextVar("uspec_audit_allowed_code", default=())


@contextmanager
def allowed_code(modules: Sequence[str]) -> Iterator[None]:
    """Enable importing code from ``modules`` (and their submodules) inside the block."""
    token = _allowed.set(tuple(modules))
    try:
        yield
    finally:
        _allowed.reset(token)


def _never(module: str) -> bool:
    return module.split(".")[0] in NEVER_ALLOWED


def check_allow_list(modules: Sequence[str]) -> None:
    """Validate the modules given with ``--allow-code``."""
    for module in modules:
        if not _MODULE.match(module):
            raise AuditFileError(
                f"--allow-code {module!r}: expected a module name such as 'mypackage.models'."
            )
        if _never(module):
            raise AuditFileError(
                f"--allow-code {module}: the standard library and uspec-audit's own modules are "
                f"never allowed as factories."
            )


def _split(spec: object) -> tuple[str, str]:
    if not isinstance(spec, str):
        raise ValueError(f"must be a string 'package.module:function', not {type(spec).__name__}")
    module, _, function = spec.partition(":")
    if not _MODULE.match(module) or not _FUNCTION.match(function):
        raise ValueError("must look like 'package.module:function' (a public function or class)")
    return module, function


def refusal(spec: object, allowed: Sequence[str]) -> str | None:
    """Why ``spec`` may not be imported with ``allowed`` enabled, or None when it may."""
    try:
        module, _ = _split(spec)
    except ValueError as error:
        return str(error)
    if _never(module):
        return (
            f"'{module}' belongs to Python's standard library or to uspec-audit; such code is never run from an "
            f"audit file"
        )
    if not any(module == a or module.startswith(a + ".") for a in allowed):
        return (
            f"running code named in an audit file needs your explicit opt-in: add --allow-code {module} to the "
            f"command if you trust that module"
        )
    return None


def import_callable(spec: str, where: str = "factory") -> Callable:
    """Import ``package.module:function`` if the current allow-list permits it; raise :class:`RunError` if not."""
    allowed = _allowed.get()
    problem = refusal(spec, allowed)
    if problem:
        raise RunError(f"{where} = {spec!r}: {problem}.")
    module_name, function_name = _split(spec)
    try:
        target = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as error:
        raise RunError(f"{where} = {spec!r} cannot be imported ({error}).") from error
    origin = getattr(target, "__module__", None)
    if isinstance(origin, str) and _never(origin):  # re-exported from the standard library (e.g. os.system)
        raise RunError(
            f"{where} = {spec!r} is {origin}.{getattr(target, '__name__', function_name)} from Python's "
            f"standard library or uspec-audit; such code is never run from an audit file."
        )
    if not callable(target):
        raise RunError(f"{where} = {spec!r} is not callable.")
    return target


def code_references(loaded: LoadedAudit) -> list[tuple[str, str, object]]:
    """``(file:line, key path, value)`` of every option that names code to import."""
    found = []
    for name, ensemble in loaded.model.ensembles.items():
        places: list[tuple[tuple[str, ...], dict[str, Any]]] = [
            (("ensembles", name, "options"), ensemble.options)
        ]
        if ensemble.tokenizer is not None:
            places.append((("ensembles", name, "tokenizer", "options"), ensemble.tokenizer.options))
        for path, options in places:
            for key in CODE_KEYS:
                if key in options:
                    found.append((loaded.where(*path), ".".join((*path, key)), options[key]))
    return found


def output_problem(loaded: LoadedAudit) -> str | None:
    """Why the audit file's own ``[audit] output`` may not be used, or None."""
    output, base = loaded.output_dir.resolve(), loaded.base_dir.resolve()
    if output == base or output.is_relative_to(base):
        return None
    return (
        f"{loaded.where('audit', 'output')}: [audit] output = {loaded.model.audit.output!r} is {output}, outside "
        f"the audit file's folder {base}; an audit file writes only inside its own folder. Choose a results "
        f"folder elsewhere on the command line with --out."
    )


def check_trust(loaded: LoadedAudit, allow_code: Sequence[str] = (), output_given: bool = False) -> list[str]:
    """Refuse code the user did not enable and an output outside the audit's folder; return notes for
    ``validate`` (the code that will run)."""
    check_allow_list(allow_code)
    problems, notes = [], []
    if not output_given:
        problem = output_problem(loaded)
        if problem:
            problems.append(problem)
    for where, key, spec in code_references(loaded):
        problem = refusal(spec, allow_code)
        if problem:
            problems.append(f"{where}: {key} = {spec!r}: {problem}.")
        else:
            notes.append(f"{key} = {spec!r} will be imported and called (enabled with --allow-code).")
    if problems:
        raise AuditFileError(
            "The audit file asks for something that needs your permission:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return notes


def refuse_special_files(loaded: LoadedAudit, members: dict) -> None:
    """Refuse (exit 2) a dataset, table, member or tokenizer path that is a FIFO, a device or a socket (or a
    link to one), before anything opens it: reading one blocks forever or never ends. Folders pass (a source
    or a plugin's loader may take one); missing paths are reported by the other checks."""
    named = [
        (loaded.where("datasets", name, key), loaded.resolve(value))
        for name, dataset in loaded.model.datasets.items()
        for key, value in (("path", dataset.path), ("table", dataset.table))
        if value is not None
    ]
    named += [(loaded.where("ensembles", name), ref.path) for name, refs in members.items() for ref in refs]
    named += [
        (loaded.where("ensembles", name, "tokenizer"), loaded.resolve(e.tokenizer.path))
        for name, e in loaded.model.ensembles.items()
        if e.tokenizer is not None and e.tokenizer.path
    ]
    problems = []
    for where, path in named:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            problems.append(f"{where}: {path} is {file_kind(mode)}, not a regular file; refusing to read it.")
    if problems:
        raise AuditFileError(
            "The audit file names special files:\n" + "\n".join(f"  - {p}" for p in problems)
        )
