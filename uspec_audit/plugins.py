"""The plugin manager: built-ins and entry-point plugins, registered through one set of hooks.

Every component (loader, dataset source, perturbation, metric, test kind,
suite, tokenizer) is collected into a :class:`Registry`. Each plugin's hook is
called on its own so that a component is credited to the plugin that
registered it, and so that one broken plugin is reported and left out while
everything else keeps working:

- a plugin that fails to import, or implements a hook this version does not
  define (did-you-mean), or whose hook has the wrong arguments, is left out;
- a hook that raises: the components it registered are left out;
- a spec of the wrong type or an invalid spec: that component is left out;
- a name registered twice: a plugin's component that clashes with a built-in is
  left out (the message says how to rename it); two plugins that register the
  same name both lose it (neither is chosen silently).

Each problem is a :class:`PluginFailure` in ``Registry.failures``; ``uspec-audit
plugins`` lists them and exits 3, and an audit that names a left-out
component says which plugin failed and why.

Plugins can be switched off with the environment variable
``USPEC_AUDIT_DISABLE_PLUGINS`` (comma-separated entry-point names).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from uspec_audit import __version__, hookspecs
from uspec_audit.components import (
    BUILTIN_PLUGIN,
    MODALITIES,
    TASKS,
    DatasetSourceSpec,
    LoaderSpec,
    MetricSpec,
    PerturbationSpec,
    Registered,
    ReportSectionSpec,
    SuiteSpec,
    TestKindSpec,
    TokenizerSpec,
)

ENTRY_POINT_GROUP = "uspec_audit"
BUILTIN_MODULE = "uspec_audit.builtin"
DISABLE_VARIABLE = "USPEC_AUDIT_DISABLE_PLUGINS"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+/-]{0,63}$")


@dataclass(frozen=True)
class Family:
    """A component family: its hook, the spec class it accepts and the word for it in messages."""

    hook: str
    spec_class: type
    noun: str


FAMILIES: dict[str, Family] = {
    "loader": Family("uspec_audit_register_loaders", LoaderSpec, "loader"),
    "source": Family("uspec_audit_register_sources", DatasetSourceSpec, "dataset source"),
    "perturbation": Family("uspec_audit_register_perturbations", PerturbationSpec, "perturbation"),
    "metric": Family("uspec_audit_register_metrics", MetricSpec, "metric"),
    "test_kind": Family("uspec_audit_register_test_kinds", TestKindSpec, "test kind"),
    "suite": Family("uspec_audit_register_suites", SuiteSpec, "suite"),
    "tokenizer": Family("uspec_audit_register_tokenizers", TokenizerSpec, "tokenizer"),
    "report_section": Family("uspec_audit_register_report_sections", ReportSectionSpec, "report section"),
}


@dataclass(frozen=True)
class PluginFailure:
    """A plugin (or one of its components) that was left out, and why.

    ``family`` and ``component`` name the component when one was left out alone
    (a clash, an invalid spec, a raising hook's registrations); they are empty
    when the whole plugin was left out.
    """

    plugin: str
    package: str
    error: str
    family: str = ""
    component: str = ""
    components: tuple[str, ...] = ()  # a raising hook: the components it had registered, all left out


@dataclass
class Registry:
    """Every registered component, by family and name, and every plugin failure."""

    components: dict[str, dict[str, Registered]] = field(default_factory=lambda: {f: {} for f in FAMILIES})
    failures: list[PluginFailure] = field(default_factory=list)
    plugins: list[dict[str, str]] = field(default_factory=list)

    def get(self, family: str, name: str) -> Any:
        """The spec registered as ``name`` in ``family`` (KeyError when absent)."""
        return self.components[family][name].spec

    def record(self, family: str, name: str) -> Registered:
        """The registration of ``name`` in ``family``: spec, plugin, package, version (KeyError when absent)."""
        return self.components[family][name]

    def find(self, spec: Any) -> Registered | None:
        """The registration of this very spec object, or None."""
        return next((item for item in self.all() if item.spec is spec), None)

    def names(self, family: str) -> list[str]:
        return sorted(self.components[family])

    def all(self) -> list[Registered]:
        return [item for family in FAMILIES for item in self.components[family].values()]

    def identity(self, family: str, name: str) -> str:
        """The cache identity of a component: package, version, code hash, declared version
        (:mod:`uspec_audit.identity`)."""
        from uspec_audit.identity import component_identity

        record = self.record(family, name)
        return component_identity(record.spec, record.package, record.version).key

    def failure_hint(self, family: str = "", name: str = "") -> str:
        """Why ``name`` may be missing: the failure that left it out, else every plugin that failed."""
        if not self.failures:
            return ""
        exact = [
            f
            for f in self.failures
            if name and f.family == family and (f.component == name or name in f.components)
        ]
        if exact:
            return " " + " ".join(f.error for f in exact)
        whole = [f for f in self.failures if not f.component and not f.components] or self.failures
        return " Plugins that failed and may provide it: " + " ".join(f.error for f in whole)


def _distribution_of(entry_point) -> tuple[str, str]:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return "unknown", "unknown"
    return dist.metadata["Name"], dist.version


def _disabled() -> set[str]:
    return {n.strip() for n in os.environ.get(DISABLE_VARIABLE, "").split(",") if n.strip()}


def _fix_hint(plugin: str) -> str:
    return f"Fix or uninstall it, or switch it off with {DISABLE_VARIABLE}={plugin}."


def _hook_problems(manager: pluggy.PluginManager, module: Any, plugin: str) -> list[str]:
    """Hooks the module implements that this version does not define, and hook-named functions without
    ``@hookimpl`` (never called): both mean the plugin does not do what its author thinks."""
    known = sorted(name for name in vars(hookspecs) if name.startswith(f"{hookspecs.PROJECT}_"))
    problems = []
    for attribute in sorted(dir(module)):
        try:
            options = manager.parse_hookimpl_opts(module, attribute)
        except Exception:  # an attribute that cannot be inspected is not a hook
            continue
        if options is not None and attribute not in known:
            close = difflib.get_close_matches(attribute, known, n=1, cutoff=0.6)
            hint = f" Did you mean '{close[0]}'?" if close else f" Hooks: {', '.join(known)}."
            problems.append(
                f"it implements the hook '{attribute}', which uspec-audit {__version__} does not "
                f"define.{hint}"
            )
        elif options is None and attribute in known:
            value = getattr(module, attribute, None)
            if inspect.isfunction(value) and value.__module__ == getattr(module, "__name__", None):
                problems.append(
                    f"its function '{attribute}' lacks the @uspec_audit.hookimpl decorator, so it "
                    f"is never called."
                )
    return problems


def _spec_problem(family: str, spec: Any) -> str | None:
    """What is wrong with a spec, or None. Checked at registration so that mistakes surface in
    ``uspec-audit plugins``, not in the middle of an audit."""
    name = getattr(spec, "name", None)
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        return (
            f"the name {name!r} is not valid: 1-64 characters, letters, digits and . _ + / - (start with a "
            f"letter or digit); prefix it with your package, e.g. 'mypkg/name'"
        )
    for attribute in ("apply", "fn", "load", "open", "make"):
        if hasattr(spec, attribute) and not callable(getattr(spec, attribute)):
            return f"{attribute} must be callable, got {type(getattr(spec, attribute)).__name__}"
    from pydantic import BaseModel

    for attribute in ("params", "options"):
        model = getattr(spec, attribute, None)
        if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
            return f"{attribute} must be a pydantic BaseModel subclass (or None), got {model!r}"
    if family == "perturbation":
        if spec.modality not in MODALITIES:
            return f"modality {spec.modality!r} is not one of {', '.join(MODALITIES)}"
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in spec.severities):
            return f"severities must be integers, got {spec.severities!r}"
    if family == "metric" and (not spec.tasks or not set(spec.tasks) <= set(TASKS)):
        return f"tasks {spec.tasks!r} must be a non-empty subset of {', '.join(TASKS)}"
    if family == "loader" and not all(isinstance(s, str) and s.startswith(".") for s in spec.suffixes):
        return f"suffixes must be strings starting with '.', e.g. ('.onnx',); got {spec.suffixes!r}"
    if family == "suite" and not spec.path.is_file():
        return f"the suite file {spec.path} does not exist"
    if family == "test_kind":
        return _kind_problem(spec)
    if family == "report_section":
        if not callable(spec.html) or (spec.markdown is not None and not callable(spec.markdown)):
            return "html (and markdown, when given) must be callable"
        if not isinstance(spec.order, int) or isinstance(spec.order, bool):
            return f"order must be an integer, got {spec.order!r}"
    return None


REX_DOMAINS = ("strata", "variants", "pooled")


def _kind_problem(spec: Any) -> str | None:
    for attribute in ("check", "variants", "strata", "tables"):
        value = getattr(spec, attribute)
        if value is not None and not callable(value):
            return f"{attribute} must be callable (or None), got {type(value).__name__}"
    if spec.rex_domains not in REX_DOMAINS:
        return f"rex_domains {spec.rex_domains!r} is not one of {', '.join(REX_DOMAINS)}"
    if not all(isinstance(t, str) for t in spec.produces):
        return f"produces must be table names (strings), got {spec.produces!r}"
    if spec.produces and spec.tables is None:
        return f"produces names tables {list(spec.produces)} but the kind has no `tables` callable"
    return None


@dataclass
class _Candidate:
    family: str
    spec: Any
    plugin: str
    package: str
    version: str


def build_registry(*, load_entry_points: bool = True) -> Registry:
    """Create the plugin manager, load built-ins and entry points, collect components."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    registry = Registry()
    origins: dict[str, tuple[str, str]] = {}

    manager.register(importlib.import_module(BUILTIN_MODULE), name=BUILTIN_PLUGIN)
    origins[BUILTIN_PLUGIN] = ("uspec-audit", __version__)
    if load_entry_points:
        _load_entry_points(manager, registry, origins)

    for plugin_name, (package, version) in origins.items():
        registry.plugins.append({"plugin": plugin_name, "package": package, "version": version})

    candidates: list[_Candidate] = []
    for family_name, family in FAMILIES.items():
        for impl in getattr(manager.hook, family.hook).get_hookimpls():
            package, version = origins.get(impl.plugin_name, ("unknown", "unknown"))
            staged: list[_Candidate] = []
            register = _make_register(registry, family_name, impl.plugin_name, package, version, staged)
            try:
                impl.function(register=register)
            except Exception as error:  # the hook's registrations are left out, everything else stays
                registry.failures.append(
                    PluginFailure(
                        impl.plugin_name,
                        package,
                        f"plugin '{impl.plugin_name}' ({package}): its hook {family.hook} raised "
                        f"{type(error).__name__}: {error}; the {family.noun}s it registers are left out "
                        f"({', '.join(c.spec.name for c in staged) or 'none registered before the error'}). "
                        + _fix_hint(impl.plugin_name),
                        family_name,
                        components=tuple(c.spec.name for c in staged),
                    )
                )
                continue
            candidates += staged
    _settle_names(registry, candidates)
    return registry


def _load_entry_points(manager: pluggy.PluginManager, registry: Registry, origins: dict) -> None:
    disabled = _disabled()
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        package, version = _distribution_of(entry_point)
        if entry_point.name in disabled or entry_point.value == BUILTIN_MODULE:
            continue
        if entry_point.name == BUILTIN_PLUGIN or entry_point.name in origins:
            registry.failures.append(
                PluginFailure(
                    entry_point.name,
                    package,
                    (
                        f"plugin '{entry_point.name}' ({package}): the entry-point name '{entry_point.name}' is "
                        f"{'reserved' if entry_point.name == BUILTIN_PLUGIN else 'used by another plugin'}; it was left "
                        f"out. Rename the entry point in the package's pyproject.toml."
                    ),
                )
            )
            continue
        try:
            module = entry_point.load()
        except (Exception, SystemExit) as error:  # a broken plugin must not take the CLI down
            registry.failures.append(
                PluginFailure(
                    entry_point.name,
                    package,
                    (
                        f"plugin '{entry_point.name}' ({package} {version}) could not be imported "
                        f"({entry_point.value}): {type(error).__name__}: {error}. It was left out. "
                        + _fix_hint(entry_point.name)
                    ),
                )
            )
            continue
        problems = _hook_problems(manager, module, entry_point.name)
        if not problems:
            try:
                manager.register(module, name=entry_point.name)
            except (pluggy.PluginValidationError, ValueError) as error:
                problems = [
                    f"its hooks cannot be registered: {error} (every hook takes one argument, register)."
                ]
        if problems:
            registry.failures.append(
                PluginFailure(
                    entry_point.name,
                    package,
                    (
                        f"plugin '{entry_point.name}' ({package} {version}): {' '.join(problems)} It was left out. "
                        + _fix_hint(entry_point.name)
                    ),
                )
            )
            continue
        origins[entry_point.name] = (package, version)


def _make_register(
    registry: Registry, family: str, plugin: str, package: str, version: str, staged: list[_Candidate]
) -> Callable[[Any], None]:
    expected = FAMILIES[family]

    def register(spec: Any) -> None:
        shown = getattr(spec, "name", None)
        if not isinstance(spec, expected.spec_class):
            registry.failures.append(
                PluginFailure(
                    plugin,
                    package,
                    (
                        f"plugin '{plugin}' ({package}) registered a {type(spec).__name__} {shown!r} through "
                        f"{expected.hook}, which takes {expected.spec_class.__name__}; it was left out."
                    ),
                    family,
                    shown if isinstance(shown, str) else "",
                )
            )
            return
        problem = _spec_problem(family, spec)
        if problem:
            registry.failures.append(
                PluginFailure(
                    plugin,
                    package,
                    (
                        f"The {expected.noun} {shown!r} of plugin '{plugin}' ({package}) was left out: {problem}."
                    ),
                    family,
                    shown if isinstance(shown, str) else "",
                )
            )
            return
        staged.append(_Candidate(family, spec, plugin, package, version))

    return register


def _settle_names(registry: Registry, candidates: list[_Candidate]) -> None:
    """Register every candidate whose name is its own; leave out clashing ones, with a message each."""
    by_name: dict[tuple[str, str], list[_Candidate]] = {}
    for candidate in candidates:
        by_name.setdefault((candidate.family, candidate.spec.name), []).append(candidate)
    for (family, name), claimants in by_name.items():
        noun = FAMILIES[family].noun
        if len(claimants) == 1:
            only = claimants[0]
            registry.components[family][name] = Registered(
                family, name, only.spec, only.plugin, only.package, only.version
            )
            continue
        builtin = next((c for c in claimants if c.plugin == BUILTIN_PLUGIN), None)
        if builtin is not None:
            registry.components[family][name] = Registered(
                family, name, builtin.spec, builtin.plugin, builtin.package, builtin.version
            )
            for other in claimants:
                if other is builtin:
                    continue
                registry.failures.append(
                    PluginFailure(
                        other.plugin,
                        other.package,
                        (
                            f"The {noun} '{name}' of plugin '{other.plugin}' ({other.package}) was left out: uspec-audit "
                            f"has a built-in {noun} of that name. Rename the plugin's {noun} with a package prefix, e.g. "
                            f"'{other.plugin}/{name}'; the plugin's other components are available."
                        ),
                        family,
                        name,
                    )
                )
            continue
        owners = ", ".join(f"plugin '{c.plugin}' ({c.package})" for c in claimants)
        if len({c.plugin for c in claimants}) == 1:
            claimants, reason = (
                claimants[:1],
                f"plugin '{claimants[0].plugin}' registers it {len(claimants)} times",
            )
        else:
            reason = f"it is registered by {owners}, and neither is chosen silently"
        for claimant in claimants:
            registry.failures.append(
                PluginFailure(
                    claimant.plugin,
                    claimant.package,
                    (
                        f"The {noun} '{name}' was left out: {reason}. Rename one (prefix names with the package, e.g. "
                        f"'{claimant.plugin}/{name.split('/')[-1]}') or switch one plugin off with "
                        f"{DISABLE_VARIABLE}=NAME; the plugins' other components are available."
                    ),
                    family,
                    name,
                )
            )


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
