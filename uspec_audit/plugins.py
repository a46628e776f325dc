"""The plugin manager: built-ins and entry-point plugins, registered through one set of hooks.

Every component (loader, dataset source, perturbation, metric, test kind,
suite, tokenizer) is collected into a :class:`Registry`. Each plugin's hook is called on
its own so that a component is credited to the plugin that registered it, a
name clash names both plugins, and a plugin that raises is reported by name.
A plugin that fails to import is recorded in ``Registry.failures`` and does
not break commands that do not need it.

Plugins can be switched off with the environment variable
``USPEC_AUDIT_DISABLE_PLUGINS`` (comma-separated entry-point names).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from uspec_audit import __version__, hookspecs
from uspec_audit.components import (
    DatasetSourceSpec,
    LoaderSpec,
    MetricSpec,
    PerturbationSpec,
    Registered,
    SuiteSpec,
    TestKindSpec,
    TokenizerSpec,
)
from uspec_audit.errors import PluginError

ENTRY_POINT_GROUP = "uspec_audit"
BUILTIN_MODULE = "uspec_audit.builtin"

# family name -> (hook name, accepted spec class)
FAMILIES: dict[str, tuple[str, type]] = {
    "loader": ("uspec_audit_register_loaders", LoaderSpec),
    "source": ("uspec_audit_register_sources", DatasetSourceSpec),
    "perturbation": ("uspec_audit_register_perturbations", PerturbationSpec),
    "metric": ("uspec_audit_register_metrics", MetricSpec),
    "test_kind": ("uspec_audit_register_test_kinds", TestKindSpec),
    "suite": ("uspec_audit_register_suites", SuiteSpec),
    "tokenizer": ("uspec_audit_register_tokenizers", TokenizerSpec),
}


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded or raised inside a hook."""

    plugin: str
    package: str
    error: str


@dataclass
class Registry:
    """Every registered component, by family and name."""

    components: dict[str, dict[str, Registered]] = field(default_factory=lambda: {f: {} for f in FAMILIES})
    failures: list[PluginFailure] = field(default_factory=list)
    plugins: list[dict[str, str]] = field(default_factory=list)

    def get(self, family: str, name: str) -> Any:
        """The spec registered as ``name`` in ``family`` (KeyError when absent)."""
        return self.components[family][name].spec

    def names(self, family: str) -> list[str]:
        return sorted(self.components[family])

    def all(self) -> list[Registered]:
        return [item for family in FAMILIES for item in self.components[family].values()]

    def failure_hint(self) -> str:
        """A sentence naming plugins that failed to load, for 'unknown name' errors."""
        if not self.failures:
            return ""
        names = ", ".join(f"'{f.plugin}' ({f.error})" for f in self.failures)
        return f" Plugins that failed to load and may provide it: {names}."


def _distribution_of(entry_point) -> tuple[str, str]:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return "unknown", "unknown"
    return dist.metadata["Name"], dist.version


def build_registry(*, load_entry_points: bool = True) -> Registry:
    """Create the plugin manager, load built-ins and entry points, collect components."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    registry = Registry()
    origins: dict[str, tuple[str, str]] = {}

    builtin = importlib.import_module(BUILTIN_MODULE)
    manager.register(builtin, name="builtin")
    origins["builtin"] = ("uspec-audit", __version__)

    if load_entry_points:
        disabled = {n.strip() for n in os.environ.get("USPEC_AUDIT_DISABLE_PLUGINS", "").split(",") if n.strip()}
        for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            package, version = _distribution_of(entry_point)
            if entry_point.name in disabled or entry_point.value == BUILTIN_MODULE:
                continue
            try:
                module = entry_point.load()
                manager.register(module, name=entry_point.name)
            except Exception as error:  # a broken plugin must not take the CLI down
                registry.failures.append(PluginFailure(entry_point.name, package, f"{type(error).__name__}: {error}"))
                continue
            origins[entry_point.name] = (package, version)

    try:
        manager.check_pending()
    except pluggy.PluginValidationError as error:
        raise PluginError(f"A plugin implements a hook that uspec-audit does not define: {error}") from error

    for plugin_name, (package, version) in origins.items():
        registry.plugins.append({"plugin": plugin_name, "package": package, "version": version})

    for family, (hook_name, spec_class) in FAMILIES.items():
        hook = getattr(manager.hook, hook_name)
        for impl in hook.get_hookimpls():
            package, version = origins.get(impl.plugin_name, ("unknown", "unknown"))
            register = _make_register(registry, family, spec_class, impl.plugin_name, package, version)
            try:
                impl.function(register=register)
            except PluginError:
                raise
            except Exception as error:
                registry.failures.append(
                    PluginFailure(impl.plugin_name, package, f"{hook_name} raised {type(error).__name__}: {error}")
                )
    return registry


def _make_register(registry: Registry, family: str, spec_class: type, plugin: str, package: str, version: str):
    def register(spec: Any) -> None:
        if not isinstance(spec, spec_class):
            raise PluginError(
                f"Plugin '{plugin}' registered a {type(spec).__name__} as a {family}; expected {spec_class.__name__}."
            )
        existing = registry.components[family].get(spec.name)
        if existing is not None:
            raise PluginError(
                f"The {family} name '{spec.name}' is registered twice: by plugin '{existing.plugin}' "
                f"({existing.package}) and by plugin '{plugin}' ({package}). Uninstall one, or disable it with "
                f"USPEC_AUDIT_DISABLE_PLUGINS={plugin}."
            )
        registry.components[family][spec.name] = Registered(family, spec.name, spec, plugin, package, version)

    return register


_cached: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry (built on first use)."""
    global _cached
    if _cached is None:
        _cached = build_registry()
    return _cached


def reset_registry() -> None:
    """Forget the cached registry (tests; after installing a plugin in-process)."""
    global _cached
    _cached = None
