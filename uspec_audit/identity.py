"""The identity of a component's code, for cache keys: which package, which version, which source.

A cached prediction depends on the code that loaded the model, read the data,
tokenized or perturbed it. A component's identity is

- the distribution that ships it (``uspec-audit`` for the built-ins) and its version;
- the sha256 of the source files of the modules that define its callables and
  its options/params model, and of every module *of the same package* those
  modules import (anywhere in their source, also inside functions) or hold at
  module level, transitively -- a plugin's top-level package, or for the
  built-ins their subpackage of uspec-audit (``uspec_audit.perturb``);
- the spec's declared ``version``.

So editing a plugin's perturbation recomputes the units that perturbation
produced and nothing else, even when the plugin's version number is not
bumped; editing a helper module the perturbation imports does too. What the
hash cannot see -- a module loaded by name at run time (``importlib``), a data
file read at run time, another package's behaviour -- is covered by the
distribution's version and by the spec's ``version``, which a plugin author bumps.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import importlib.util
import sys
import types
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

_CODE_FIELDS = ("apply", "fn", "load", "open", "make", "params", "options")


@dataclass(frozen=True)
class ComponentIdentity:
    """Who made a component and which code it runs."""

    package: str
    package_version: str
    code_sha256: str
    declared_version: str
    modules: tuple[str, ...]

    @property
    def key(self) -> str:
        """One string for cache keys."""
        text = "|".join([self.package, self.package_version, self.code_sha256, self.declared_version])
        return hashlib.sha256(text.encode()).hexdigest()


def _target(value: Any) -> Any:
    """The function or class behind a callable (partials, bound methods, callable instances)."""
    while isinstance(value, functools.partial):
        value = value.func
    if isinstance(value, types.MethodType):
        value = value.__func__
    if not isinstance(value, type | types.FunctionType | types.BuiltinFunctionType) and callable(value):
        value = type(value)
    return value


def _module_of(value: Any) -> str | None:
    name = getattr(_target(value), "__module__", None)
    return name if isinstance(name, str) and name in sys.modules else None


def _scope(name: str) -> str:
    """The package whose modules count as a component's code: a plugin's top-level package; for uspec-audit's
    own components the subpackage (``uspec_audit.perturb``), since the rest of the tool is covered by its
    version and the cache format."""
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "uspec_audit" and len(parts) > 2 else parts[0]


def _within(name: str, scope: str) -> bool:
    return name == scope or name.startswith(scope + ".")


def _referenced(module: types.ModuleType, scope: str) -> set[str]:
    """Modules within ``scope`` that ``module`` references: the modules, functions and classes among its
    globals, and every module its source imports (also inside functions, and the module a constant is
    imported from)."""
    found = set()
    for value in list(vars(module).values()):
        name: str | None
        if isinstance(value, types.ModuleType):
            name = value.__name__
        elif isinstance(value, type | types.FunctionType):
            name = getattr(value, "__module__", None)
        else:
            continue
        if isinstance(name, str) and _within(name, scope) and name in sys.modules:
            found.add(name)
    return found | _imported(module, scope)


def _imported(module: types.ModuleType, scope: str) -> set[str]:
    """The modules within ``scope`` that ``module``'s source imports (relative imports resolved)."""
    filename = getattr(module, "__file__", None)
    if not filename or not filename.endswith(".py"):
        return set()
    try:
        status = Path(filename).stat()
        tree = _parsed(filename, status.st_size, status.st_mtime_ns)
    except (OSError, SyntaxError, ValueError):
        return set()
    package = module.__name__ if filename.endswith("__init__.py") else module.__name__.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return {name for name in names if name and _within(name, scope) and _exists(name)}


@functools.cache
def _parsed(filename: str, size: int, mtime_ns: int) -> ast.AST:
    return ast.parse(Path(filename).read_bytes(), filename)


def _exists(name: str) -> bool:
    if name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError, AttributeError):
        return False


def code_modules(spec: Any) -> tuple[str, ...]:
    """The modules whose source makes up a spec's code (sorted)."""
    start = set()
    names = [f.name for f in fields(spec)] if is_dataclass(spec) else list(_CODE_FIELDS)
    for name in names:
        if name in _CODE_FIELDS:
            value = getattr(spec, name, None)
            module = _module_of(value) if value is not None else None
            if module:
                start.add(module)
    seen, queue = set(start), deque(start)
    while queue:
        current = queue.popleft()
        loaded = sys.modules.get(current)
        if loaded is None:
            continue
        for name in _referenced(loaded, _scope(current)) - seen:
            seen.add(name)
            queue.append(name)
    return tuple(sorted(seen))


@functools.cache
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _module_digest(name: str) -> str:
    module = sys.modules.get(name)
    filename = getattr(module, "__file__", None)
    if not filename:
        return "no-file"
    try:
        status = Path(filename).stat()
        return _file_digest(filename, status.st_size, status.st_mtime_ns)
    except OSError:
        return "unreadable"


@functools.cache
def _distributions() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


@functools.cache
def distribution_of(module: str) -> tuple[str, str]:
    """``(distribution name, version)`` that ships ``module``'s top-level package, or ``("", "")``."""
    top = module.split(".")[0]
    for name in _distributions().get(top, []):
        try:
            return name, importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "", ""


_identities: dict[int, tuple[Any, ComponentIdentity]] = {}


def component_identity(
    spec: Any, package: str | None = None, version: str | None = None
) -> ComponentIdentity:
    """The identity of a component (remembered per spec object for the process).

    ``package`` and ``version``: the distribution that registered it, when known (the registry knows it from
    the entry point); else the distribution that ships the module of its first callable.
    """
    remembered = _identities.get(id(spec))
    if remembered is not None and remembered[0] is spec:
        return remembered[1]
    modules = code_modules(spec)
    digest = hashlib.sha256()
    for name in modules:
        digest.update(f"{name}={_module_digest(name)}\n".encode())
    if package is None:
        package, version = distribution_of(modules[0]) if modules else ("", "")
    if modules and not package:  # a checkout without installed metadata: still name the package
        package = modules[0].split(".")[0]
    identity = ComponentIdentity(
        package=package,
        package_version=version or "",
        code_sha256=digest.hexdigest(),
        declared_version=str(getattr(spec, "version", "")),
        modules=modules,
    )
    _identities[id(spec)] = (spec, identity)
    return identity
