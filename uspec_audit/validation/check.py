"""Checks of an audit that need the plugin registry or the file system, giving the immutable
:class:`~uspec_audit.config.checked.CheckedAudit`.

Runs after structural validation (:func:`uspec_audit.config.load.parse_audit`); collects every problem
before raising, so a user fixes the whole file in one go. Each test's kind checks its own keys
(:class:`uspec_audit.TestKindSpec`).
"""

from __future__ import annotations

import difflib
import glob
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from uspec_audit.components import TestKindSpec
from uspec_audit.config.checked import CheckedAudit, CheckedTest, MemberRef
from uspec_audit.config.contract_check import contract_problems
from uspec_audit.config.load import parse_audit
from uspec_audit.config.loaded import LoadedAudit, did_you_mean, format_path
from uspec_audit.config.models import DEFAULT_METRICS, Dataset, Ensemble, StressTest
from uspec_audit.config.options import option_problems
from uspec_audit.config.trust import check_trust, refuse_special_files
from uspec_audit.conformance import call_component
from uspec_audit.errors import AuditFileError, PluginError
from uspec_audit.kind_api import CheckRequest, Variant, VariantRequest
from uspec_audit.validation.inputs import check_datasets, check_member_inputs

__all__ = [
    "DEFAULT_METRICS",
    "CheckedAudit",
    "CheckedTest",
    "MemberRef",
    "check_audit",
    "load_audit",
    "resolve_members",
]


def resolve_members(loaded: LoadedAudit, ensemble_name: str) -> tuple[list[MemberRef], list[str]]:
    """Expand globs/lists/tables into member references; return (members, problems)."""
    ensemble = loaded.model.ensembles[ensemble_name]
    where = loaded.where("ensembles", ensemble_name, "members" if ensemble.members is not None else "member")
    problems: list[str] = []
    refs: list[MemberRef] = []
    if ensemble.member is not None:
        for entry in ensemble.member:
            refs.append(
                MemberRef(
                    entry.name or Path(entry.path).stem,
                    loaded.resolve(entry.path),
                    entry.group,
                    dict(entry.attributes),
                )
            )
    else:
        patterns = [ensemble.members] if isinstance(ensemble.members, str) else list(ensemble.members or [])
        for pattern in patterns:
            resolved = str(loaded.resolve(pattern))
            if glob.has_magic(pattern):
                matches = sorted(glob.glob(resolved))
                if not matches:
                    problems.append(
                        f"{where}: ensemble '{ensemble_name}': the glob '{pattern}' matches no file "
                        f"(looked for {resolved})."
                    )
                refs.extend(MemberRef(Path(m).stem, Path(m)) for m in matches)
            else:
                refs.append(MemberRef(Path(pattern).stem, Path(resolved)))
    for ref in refs:
        if not ref.path.exists():
            problems.append(f"{where}: ensemble '{ensemble_name}': member file {ref.path} does not exist.")
    names = [r.name for r in refs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(
            f"{where}: ensemble '{ensemble_name}': member names {duplicates} are not unique; "
            f"use [[member]] tables with explicit names."
        )
    return refs, problems


def _unknown(kind: str, name: str, registry, family: str) -> str:
    known = registry.names(family)
    return f"unknown {kind} '{name}'.{did_you_mean(name, known)} Registered: {', '.join(known) or 'none'}."


_NOUNS = {"loader": "loader", "source": "dataset source", "tokenizer": "tokenizer"}


def _options_problems(
    loaded: LoadedAudit, registry, family: str, component: str, raw: dict, table: tuple, label: str
) -> list[str]:
    """The component's ``options`` checked by its own model; each problem at the option's line."""
    spec = registry.get(family, component)
    _, found = option_problems(spec.options, raw, f"{_NOUNS[family]} '{component}'")
    problems = []
    for problem in found:
        key = problem.split(":", 1)[0].split(".")
        where = loaded.where(*table, *key) if len(key) > 1 else loaded.where(*table, "options")
        problems.append(f"{where}: {label}: {problem}.")
    return problems


def _component_problems(
    loaded: LoadedAudit, registry, family: str, component: str, raw: dict, table: tuple, at: str, label: str
) -> tuple[list[str], bool]:
    """An audit's choice of a ``family`` component (loader, tokenizer, source) at ``at``: unknown (with what is
    registered), else its options checked by :func:`_options_problems`. The flag: the name is unknown."""
    if component not in registry.names(family):
        return [f"{at}: {label}: " + _unknown(_NOUNS[family], component, registry, family)], True
    return _options_problems(loaded, registry, family, component, raw, table, label), False


def _suffix_problems(
    loaded: LoadedAudit, registry, name: str, refs: list[MemberRef]
) -> tuple[list[str], list[str]]:
    """Member files whose suffix the ensemble's loader does not declare: an error when another loader claims
    the suffix (the wrong loader is named), else a warning (the loader still tries)."""
    loader = loaded.model.ensembles[name].loader
    suffixes = tuple(s.lower() for s in registry.get("loader", loader).suffixes)
    if not suffixes:
        return [], []
    claims = {
        s.lower(): other
        for other in registry.names("loader")
        if other != loader
        for s in registry.get("loader", other).suffixes
    }
    where = loaded.where("ensembles", name, "loader")
    claimed: dict[str, list[str]] = {}
    unclaimed: list[str] = []
    for ref in refs:
        suffix = ref.path.suffix.lower()
        if suffix in suffixes:
            continue
        if suffix in claims:
            claimed.setdefault(suffix, []).append(ref.path.name)
        else:
            unclaimed.append(ref.path.name)
    problems = [
        f"{where}: ensemble '{name}': member files {_few(files)} are {suffix} files, which loader "
        f"'{claims[suffix]}' reads; loader '{loader}' reads {', '.join(suffixes)}. Set loader = "
        f'"{claims[suffix]}" or name files the loader reads.'
        for suffix, files in claimed.items()
    ]
    warnings = (
        [
            f"ensemble '{name}': member files {_few(unclaimed)} do not end in a suffix loader '{loader}' "
            f"declares ({', '.join(suffixes)}); it will try to load them anyway."
        ]
        if unclaimed
        else []
    )
    return problems, warnings


def _few(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


COMMON_TEST_KEYS = tuple(StressTest.model_fields)


def _kind_params(loaded: LoadedAudit, index: int, test: StressTest, record) -> tuple[Any, list[str]]:
    """The test's kind keys validated by its kind's ``params`` model: ``(params, problems)``, each problem at
    the key's file:line. Unknown keys are errors whatever the model says, with a did-you-mean."""
    spec: TestKindSpec = record.spec
    raw = test.kind_keys
    label = f"test '{test.name}'"
    known = (
        [f.alias or name for name, f in spec.params.model_fields.items()] if spec.params is not None else []
    )
    allowed = list(COMMON_TEST_KEYS) + known
    problems = []
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            problems.append(
                f"{loaded.where('tests', index, key)}: {label}: unknown key "
                f"'{format_path(('tests', index, key))}' for a test of kind '{spec.name}'.{hint} "
                f"Allowed here: {', '.join(allowed)}."
            )
    if problems or spec.params is None:
        return None, problems
    try:
        return spec.params.model_validate(raw), []
    except ValidationError as error:
        for item in error.errors():
            loc = tuple(item["loc"])
            where = loaded.where("tests", index, *loc)
            key = format_path(("tests", index, *loc))
            if item["type"] == "missing":
                problems.append(f"{where}: {label}: a {spec.name} test needs '{key}'.")
            else:
                shown = repr(item.get("input")) if not isinstance(item.get("input"), dict) else "a table"
                problems.append(f"{where}: {label}: '{key}' = {shown[:80]}: {item['msg']}.")
        return None, problems
    except Exception as error:  # a plugin's validator that raises something pydantic does not wrap
        return None, [
            f"{loaded.where('tests', index)}: {label}: test kind '{spec.name}' ({record.origin}) refused "
            f"its keys: {type(error).__name__}: {error}"
        ]


def check_audit(loaded: LoadedAudit, registry) -> CheckedAudit:
    """Check names against the registry and paths against the disk; raise with every problem found, else
    return the immutable :class:`CheckedAudit` the engine runs."""
    audit = loaded.model
    problems: list[str] = []
    warnings: list[str] = []
    members: dict[str, list[MemberRef]] = {}
    unknown_component = False
    missing: list[tuple[str, str]] = []

    ensemble: Ensemble | None  # below: also a lookup that may miss
    for name, ensemble in audit.ensembles.items():
        found, unknown = _component_problems(
            loaded,
            registry,
            "loader",
            ensemble.loader,
            ensemble.options,
            ("ensembles", name),
            loaded.where("ensembles", name, "loader"),
            f"ensemble '{name}'",
        )
        problems += found
        unknown_component |= unknown
        if ensemble.tokenizer is not None:
            where = loaded.where("ensembles", name, "tokenizer")
            found, unknown = _component_problems(
                loaded,
                registry,
                "tokenizer",
                ensemble.tokenizer.name,
                ensemble.tokenizer.options,
                ("ensembles", name, "tokenizer"),
                where,
                f"ensemble '{name}'",
            )
            problems += found
            unknown_component |= unknown
            if ensemble.tokenizer.path is not None and not loaded.resolve(ensemble.tokenizer.path).exists():
                problems.append(
                    f"{where}: ensemble '{name}': tokenizer file "
                    f"{loaded.resolve(ensemble.tokenizer.path)} does not exist."
                )
        refs, member_problems = resolve_members(loaded, name)
        problems += member_problems
        members[name] = refs
        if ensemble.loader in registry.names("loader"):
            suffix_problems, suffix_warnings = _suffix_problems(loaded, registry, name, refs)
            problems += suffix_problems
            warnings += suffix_warnings
        if len(refs) == 1:
            warnings.append(
                f"ensemble '{name}' has one member: spread statistics need at least 2 and are left null."
            )

    dataset: Dataset | None  # below: also a lookup that may miss
    for name, dataset in audit.datasets.items():
        found, unknown = _component_problems(
            loaded,
            registry,
            "source",
            dataset.source,
            dataset.options,
            ("datasets", name),
            loaded.where("datasets", name, "source"),
            f"dataset '{name}'",
        )
        problems += found
        unknown_component |= unknown
        path = loaded.resolve(dataset.path)
        if not path.exists():
            problems.append(
                f"{loaded.where('datasets', name, 'path')}: dataset '{name}': {path} does not exist."
            )
        if dataset.table is not None and not loaded.resolve(dataset.table).exists():
            problems.append(
                f"{loaded.where('datasets', name, 'table')}: dataset '{name}': table "
                f"{loaded.resolve(dataset.table)} does not exist."
            )

    seen: set[str] = set()
    checked: list[CheckedTest] = []
    for index, test in enumerate(audit.tests):
        at = lambda *key, i=index: loaded.where("tests", i, *key)  # noqa: E731
        label = f"test '{test.name}'"
        if test.name in seen:
            problems.append(f"{at('name')}: two tests are named '{test.name}'; test names must be unique.")
        seen.add(test.name)
        record = registry.record("test_kind", test.kind) if test.kind in registry.names("test_kind") else None
        if record is None:
            unknown_component = True
            problems.append(
                f"{at('kind')}: {label}: " + _unknown("test kind", test.kind, registry, "test_kind")
            )
        if test.dataset not in audit.datasets:
            problems.append(
                f"{at('dataset')}: {label}: unknown dataset '{test.dataset}'."
                f"{did_you_mean(test.dataset, list(audit.datasets))} Defined: {', '.join(audit.datasets)}."
            )
        for ensemble_name in test.ensembles or []:
            if ensemble_name not in audit.ensembles:
                problems.append(
                    f"{at('ensembles')}: {label}: unknown ensemble '{ensemble_name}'."
                    f"{did_you_mean(ensemble_name, list(audit.ensembles))}"
                )
        for metric in test.metrics or []:
            if metric not in registry.names("metric"):
                unknown_component = True
                problems.append(
                    f"{at('metrics')}: {label}: " + _unknown("metric", metric, registry, "metric")
                )
                continue
            spec = registry.get("metric", metric)
            for ensemble_name in test.ensembles or list(audit.ensembles):
                ensemble = audit.ensembles.get(ensemble_name)
                if ensemble is not None and ensemble.task not in spec.tasks:
                    problems.append(
                        f"{at('metrics')}: {label}: metric '{metric}' does not apply to the "
                        f"{ensemble.task} task of ensemble '{ensemble_name}' (it supports {list(spec.tasks)})."
                    )
        params, params_problems = (
            _kind_params(loaded, index, test, record) if record is not None else (None, [])
        )
        problems += params_problems
        if record is None or params_problems:
            continue
        kind: TestKindSpec = record.spec
        dataset = audit.datasets.get(test.dataset)
        ensembles = {
            e: audit.ensembles[e] for e in (test.ensembles or audit.ensembles) if e in audit.ensembles
        }
        if kind.check is not None:
            request = CheckRequest(
                test=test, params=params, dataset=dataset, ensembles=ensembles, registry=registry, audit=audit
            )
            for problem in (
                call_component(record, "test kind", f"failed checking {label}", kind.check, request) or ()
            ):
                problems.append(f"{at(*problem.key)}: {label}: {problem.message}")
                if problem.missing is not None:
                    unknown_component = True
                    missing.append(problem.missing)
        if not problems:
            variants = [Variant()]
            if kind.variants is not None:
                variant_request = VariantRequest(test=test, params=params, registry=registry, where=at())
                try:
                    variants = list(
                        call_component(
                            record, "test kind", f"failed expanding {label}", kind.variants, variant_request
                        )
                    )
                except AuditFileError as error:
                    problems.append(str(error))
                    continue
            strata = None
            if kind.strata is not None:
                strata = call_component(record, "test kind", f"failed splitting {label}", kind.strata, params)
            checked.append(CheckedTest(index, test, kind, params, tuple(variants), strata))

    references: dict[str, str | None] = {}
    for name, ensemble in audit.ensembles.items():
        tests_of = [t for t in audit.tests if t.ensembles is None or name in t.ensembles]
        if ensemble.reference is not None:
            if ensemble.reference not in {t.name for t in tests_of}:
                problems.append(
                    f"{loaded.where('ensembles', name, 'reference')}: ensemble '{name}': reference test "
                    f"'{ensemble.reference}' is not a test of this ensemble."
                )
            references[name] = ensemble.reference
        else:
            iid = [t.name for t in tests_of if _is_reference_kind(registry, t.kind)]
            references[name] = iid[0] if iid else None
            if not iid:
                warnings.append(
                    f"ensemble '{name}' has no iid test: sd ratios and correlations with iid are left null."
                )

    refuse_special_files(loaded, members)  # before any header is read: a FIFO would block forever
    schemas, data_problems, notes = check_datasets(loaded, set(registry.names("source")))
    problems += data_problems
    input_problems, input_notes = check_member_inputs(loaded, members, schemas)
    problems += input_problems
    notes += input_notes

    for index, test in enumerate(audit.tests):
        if test.contract is not None:
            names = [e for e in (test.ensembles or list(audit.ensembles)) if e in audit.ensembles]
            contract_kind = (
                registry.get("test_kind", test.kind) if test.kind in registry.names("test_kind") else None
            )
            problems += contract_problems(
                test,
                contract_kind,
                {e: audit.ensembles[e] for e in names},
                references,
                lambda *key, i=index: loaded.where("tests", i, *key),
            )

    if problems:
        message = "The audit file is invalid:\n" + "\n".join(f"  - {p}" for p in problems)
        if unknown_component and registry.failures:
            raise PluginError(message + "\n" + _failure_hints(audit, registry, missing))
        raise AuditFileError(message)
    return CheckedAudit(
        loaded=loaded,
        tests=tuple(checked),
        members={k: tuple(v) for k, v in members.items()},
        references=references,
        warnings=tuple(warnings),
        notes=tuple(notes),
    )


def _is_reference_kind(registry, kind: str) -> bool:
    return kind in registry.names("test_kind") and registry.get("test_kind", kind).reference


def _failure_hints(audit, registry, missing: list[tuple[str, str]]) -> str:
    """Why the components the audit names but the registry lacks are missing: the failures that left them out,
    else every plugin that failed to load."""
    wanted = [("loader", e.loader) for e in audit.ensembles.values()]
    wanted += [("tokenizer", e.tokenizer.name) for e in audit.ensembles.values() if e.tokenizer is not None]
    wanted += [("source", d.source) for d in audit.datasets.values()]
    for test in audit.tests:
        wanted += [("test_kind", test.kind)] + [("metric", m) for m in test.metrics or []]
    wanted += missing  # what the tests' kinds found missing (perturbations, suites)
    hints = []
    for family, name in dict.fromkeys(wanted):
        if name not in registry.names(family):
            hint = registry.failure_hint(family, name).strip()
            if hint and hint not in hints:
                hints.append(hint)
    return "\n".join(hints)


def load_audit(
    path: Path, registry=None, *, allow_code: Sequence[str] = (), output_given: bool = False
) -> CheckedAudit:
    """Read, validate and check an audit file against the plugin registry and the file system, then against
    what its reader allowed (:mod:`uspec_audit.config.trust`): code only from ``allow_code`` modules, and an
    ``[audit] output`` outside the audit's folder only when the command line gives the output
    (``output_given``). Returns the immutable :class:`~uspec_audit.config.checked.CheckedAudit` the engine runs."""
    from uspec_audit.plugins import get_registry

    loaded = parse_audit(path)
    checked = check_audit(loaded, registry or get_registry())
    return replace(checked, trust_notes=tuple(check_trust(loaded, allow_code, output_given)))
