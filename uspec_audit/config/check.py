"""Checks of an audit that need the plugin registry or the file system.

Runs after structural validation; collects every problem before raising, so a
user fixes the whole file in one go.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

from uspec_audit.config.inputs import check_datasets, check_member_inputs
from uspec_audit.config.load import LoadedAudit, did_you_mean
from uspec_audit.config.models import Dataset, Ensemble
from uspec_audit.config.options import option_problems
from uspec_audit.config.trust import refuse_special_files
from uspec_audit.contracts import contract_problems
from uspec_audit.errors import AuditFileError, PluginError

DEFAULT_METRICS = {
    "multiclass": ["accuracy", "auc", "nll", "brier", "ece"],
    "binary": ["accuracy", "auc", "norm_pr_auc", "nll", "brier", "ece"],
    "regression": ["mse", "nmse"],
}


@dataclass(frozen=True)
class MemberRef:
    """A resolved ensemble member."""

    name: str
    path: Path
    group: str | None = None
    attributes: dict = field(default_factory=dict)


@dataclass
class CheckResult:
    members: dict[str, list[MemberRef]]
    references: dict[str, str | None]
    warnings: list[str]
    notes: list[str] = field(default_factory=list)  # what validate could not check (plugin sources, torch members)


def resolve_members(loaded: LoadedAudit, ensemble_name: str) -> tuple[list[MemberRef], list[str]]:
    """Expand globs/lists/tables into member references; return (members, problems)."""
    ensemble = loaded.model.ensembles[ensemble_name]
    where = loaded.where("ensembles", ensemble_name, "members" if ensemble.members is not None else "member")
    problems: list[str] = []
    refs: list[MemberRef] = []
    if ensemble.member is not None:
        for entry in ensemble.member:
            refs.append(MemberRef(entry.name or Path(entry.path).stem, loaded.resolve(entry.path), entry.group,
                                  dict(entry.attributes)))
    else:
        patterns = [ensemble.members] if isinstance(ensemble.members, str) else list(ensemble.members or [])
        for pattern in patterns:
            resolved = str(loaded.resolve(pattern))
            if glob.has_magic(pattern):
                matches = sorted(glob.glob(resolved))
                if not matches:
                    problems.append(f"{where}: ensemble '{ensemble_name}': the glob '{pattern}' matches no file "
                                    f"(looked for {resolved}).")
                refs.extend(MemberRef(Path(m).stem, Path(m)) for m in matches)
            else:
                refs.append(MemberRef(Path(pattern).stem, Path(resolved)))
    for ref in refs:
        if not ref.path.exists():
            problems.append(f"{where}: ensemble '{ensemble_name}': member file {ref.path} does not exist.")
    names = [r.name for r in refs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(f"{where}: ensemble '{ensemble_name}': member names {duplicates} are not unique; "
                        f"use [[member]] tables with explicit names.")
    return refs, problems


def _unknown(kind: str, name: str, registry, family: str) -> str:
    known = registry.names(family)
    return f"unknown {kind} '{name}'.{did_you_mean(name, known)} Registered: {', '.join(known) or 'none'}."


_NOUNS = {"loader": "loader", "source": "dataset source", "tokenizer": "tokenizer"}


def _options_problems(loaded: LoadedAudit, registry, family: str, component: str, raw: dict, table: tuple,
                      label: str) -> list[str]:
    """The component's ``options`` checked by its own model; each problem at the option's line."""
    spec = registry.get(family, component)
    _, found = option_problems(spec.options, raw, f"{_NOUNS[family]} '{component}'")
    problems = []
    for problem in found:
        key = problem.split(":", 1)[0].split(".")
        where = loaded.where(*table, *key) if len(key) > 1 else loaded.where(*table, "options")
        problems.append(f"{where}: {label}: {problem}.")
    return problems


def _suffix_problems(loaded: LoadedAudit, registry, name: str, refs: list[MemberRef]) -> tuple[list[str], list[str]]:
    """Member files whose suffix the ensemble's loader does not declare: an error when another loader claims
    the suffix (the wrong loader is named), else a warning (the loader still tries)."""
    loader = loaded.model.ensembles[name].loader
    suffixes = tuple(s.lower() for s in registry.get("loader", loader).suffixes)
    if not suffixes:
        return [], []
    claims = {s.lower(): other for other in registry.names("loader") if other != loader
              for s in registry.get("loader", other).suffixes}
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
    problems = [f"{where}: ensemble '{name}': member files {_few(files)} are {suffix} files, which loader "
                f"'{claims[suffix]}' reads; loader '{loader}' reads {', '.join(suffixes)}. Set loader = "
                f"\"{claims[suffix]}\" or name files the loader reads." for suffix, files in claimed.items()]
    warnings = [f"ensemble '{name}': member files {_few(unclaimed)} do not end in a suffix loader '{loader}' "
                f"declares ({', '.join(suffixes)}); it will try to load them anyway."] if unclaimed else []
    return problems, warnings


def _few(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def check_audit(loaded: LoadedAudit, registry) -> CheckResult:
    """Check names against the registry and paths against the disk; raise with every problem found."""
    from uspec_audit.engine.variants import expand_variants

    audit = loaded.model
    problems: list[str] = []
    warnings: list[str] = []
    members: dict[str, list[MemberRef]] = {}
    unknown_component = False

    ensemble: Ensemble | None  # below: also a lookup that may miss
    for name, ensemble in audit.ensembles.items():
        if ensemble.loader not in registry.names("loader"):
            unknown_component = True
            problems.append(f"{loaded.where('ensembles', name, 'loader')}: ensemble '{name}': "
                            + _unknown("loader", ensemble.loader, registry, "loader"))
        else:
            problems += _options_problems(loaded, registry, "loader", ensemble.loader, ensemble.options,
                                          ("ensembles", name), f"ensemble '{name}'")
        if ensemble.tokenizer is not None:
            where = loaded.where("ensembles", name, "tokenizer")
            if ensemble.tokenizer.name not in registry.names("tokenizer"):
                unknown_component = True
                problems.append(f"{where}: ensemble '{name}': "
                                + _unknown("tokenizer", ensemble.tokenizer.name, registry, "tokenizer"))
            else:
                problems += _options_problems(loaded, registry, "tokenizer", ensemble.tokenizer.name,
                                              ensemble.tokenizer.options, ("ensembles", name, "tokenizer"),
                                              f"ensemble '{name}'")
            if ensemble.tokenizer.path is not None and not loaded.resolve(ensemble.tokenizer.path).exists():
                problems.append(f"{where}: ensemble '{name}': tokenizer file "
                                f"{loaded.resolve(ensemble.tokenizer.path)} does not exist.")
        refs, member_problems = resolve_members(loaded, name)
        problems += member_problems
        members[name] = refs
        if ensemble.loader in registry.names("loader"):
            suffix_problems, suffix_warnings = _suffix_problems(loaded, registry, name, refs)
            problems += suffix_problems
            warnings += suffix_warnings
        if len(refs) == 1:
            warnings.append(f"ensemble '{name}' has one member: spread statistics need at least 2 and are left null.")

    dataset: Dataset | None  # below: also a lookup that may miss
    for name, dataset in audit.datasets.items():
        if dataset.source not in registry.names("source"):
            unknown_component = True
            problems.append(f"{loaded.where('datasets', name, 'source')}: dataset '{name}': "
                            + _unknown("dataset source", dataset.source, registry, "source"))
        else:
            problems += _options_problems(loaded, registry, "source", dataset.source, dataset.options,
                                          ("datasets", name), f"dataset '{name}'")
        path = loaded.resolve(dataset.path)
        if not path.exists():
            problems.append(f"{loaded.where('datasets', name, 'path')}: dataset '{name}': {path} does not exist.")
        if dataset.table is not None and not loaded.resolve(dataset.table).exists():
            problems.append(f"{loaded.where('datasets', name, 'table')}: dataset '{name}': table "
                            f"{loaded.resolve(dataset.table)} does not exist.")

    seen: set[str] = set()
    for index, test in enumerate(audit.tests):
        at = lambda *key, i=index: loaded.where("tests", i, *key)  # noqa: E731
        label = f"test '{test.name}'"
        if test.name in seen:
            problems.append(f"{at('name')}: two tests are named '{test.name}'; test names must be unique.")
        seen.add(test.name)
        if test.kind not in registry.names("test_kind"):
            unknown_component = True
            problems.append(f"{at('kind')}: {label}: " + _unknown("test kind", test.kind, registry, "test_kind"))
        if test.dataset not in audit.datasets:
            problems.append(f"{at('dataset')}: {label}: unknown dataset '{test.dataset}'."
                            f"{did_you_mean(test.dataset, list(audit.datasets))} Defined: {', '.join(audit.datasets)}.")
        for ensemble_name in test.ensembles or []:
            if ensemble_name not in audit.ensembles:
                problems.append(f"{at('ensembles')}: {label}: unknown ensemble '{ensemble_name}'."
                                f"{did_you_mean(ensemble_name, list(audit.ensembles))}")
        for metric in test.metrics or []:
            if metric not in registry.names("metric"):
                unknown_component = True
                problems.append(f"{at('metrics')}: {label}: " + _unknown("metric", metric, registry, "metric"))
                continue
            spec = registry.get("metric", metric)
            for ensemble_name in test.ensembles or list(audit.ensembles):
                ensemble = audit.ensembles.get(ensemble_name)
                if ensemble is not None and ensemble.task not in spec.tasks:
                    problems.append(f"{at('metrics')}: {label}: metric '{metric}' does not apply to the "
                                    f"{ensemble.task} task of ensemble '{ensemble_name}' (it supports {list(spec.tasks)}).")
        dataset = audit.datasets.get(test.dataset)
        if test.kind == "stratified":
            if not test.by_list:
                problems.append(f"{at()}: {label}: a stratified test needs `by` (one attribute or a list).")
            for attribute in test.by_list:
                if dataset is not None and attribute not in dataset.attributes:
                    problems.append(f"{at('by')}: {label}: '{attribute}' is not an attribute of dataset "
                                    f"'{test.dataset}'.{did_you_mean(attribute, dataset.attributes)} "
                                    f"Declare it in [datasets.{test.dataset}] attributes = [...].")
        elif test.by is not None:
            problems.append(f"{at('by')}: {label}: `by` applies to stratified tests only (kind is '{test.kind}').")
        if test.kind == "perturbed" and not (test.suite or test.perturbations):
            problems.append(f"{at()}: {label}: a perturbed test needs `suite` or `perturbations`.")
        if test.kind == "contrastive":
            if not (test.link or test.perturbations or test.suite):
                problems.append(f"{at()}: {label}: a contrastive test needs `link` (a column linking matched rows) "
                                f"or `perturbations` (transformations of each example).")
            if test.link and dataset is not None and test.link not in dataset.attributes:
                problems.append(f"{at('link')}: {label}: link '{test.link}' is not an attribute of dataset "
                                f"'{test.dataset}'.{did_you_mean(test.link, dataset.attributes)}")
        if test.suite is not None and test.suite not in registry.names("suite"):
            unknown_component = True
            problems.append(f"{at('suite')}: {label}: " + _unknown("suite", test.suite, registry, "suite"))
        for ref in test.perturbations or []:
            if ref.name not in registry.names("perturbation"):
                unknown_component = True
                problems.append(f"{at('perturbations')}: {label}: "
                                + _unknown("perturbation", ref.name, registry, "perturbation"))
        if test.baseline is not None:
            if test.baseline not in audit.ensembles:
                problems.append(f"{at('baseline')}: {label}: unknown baseline ensemble '{test.baseline}'.")
            elif test.ensembles is not None and test.baseline not in test.ensembles:
                problems.append(f"{at('baseline')}: {label}: the baseline ensemble '{test.baseline}' must be one of "
                                f"the test's ensembles {test.ensembles}.")
            if test.kind != "perturbed":
                problems.append(f"{at('baseline')}: {label}: `baseline` applies to perturbed tests only.")
        if not problems:
            try:
                expand_variants(test, registry, where=at())
            except AuditFileError as error:
                problems.append(str(error))

    references: dict[str, str | None] = {}
    for name, ensemble in audit.ensembles.items():
        tests_of = [t for t in audit.tests if t.ensembles is None or name in t.ensembles]
        if ensemble.reference is not None:
            if ensemble.reference not in {t.name for t in tests_of}:
                problems.append(f"{loaded.where('ensembles', name, 'reference')}: ensemble '{name}': reference test "
                                f"'{ensemble.reference}' is not a test of this ensemble.")
            references[name] = ensemble.reference
        else:
            iid = [t.name for t in tests_of if t.kind == "iid"]
            references[name] = iid[0] if iid else None
            if not iid:
                warnings.append(f"ensemble '{name}' has no iid test: sd ratios and correlations with iid are left null.")

    refuse_special_files(loaded, members)  # before any header is read: a FIFO would block forever
    schemas, data_problems, notes = check_datasets(loaded, set(registry.names("source")))
    problems += data_problems
    input_problems, input_notes = check_member_inputs(loaded, members, schemas)
    problems += input_problems
    notes += input_notes

    for index, test in enumerate(audit.tests):
        if test.contract is not None:
            names = [e for e in (test.ensembles or list(audit.ensembles)) if e in audit.ensembles]
            problems += contract_problems(test, {e: audit.ensembles[e] for e in names}, references,
                                          lambda *key, i=index: loaded.where("tests", i, *key))

    if problems:
        message = "The audit file is invalid:\n" + "\n".join(f"  - {p}" for p in problems)
        if unknown_component and registry.failures:
            raise PluginError(message + "\n" + _failure_hints(audit, registry))
        raise AuditFileError(message)
    result = CheckResult(members=members, references=references, warnings=warnings, notes=notes)
    loaded.checked = result
    return result


def _failure_hints(audit, registry) -> str:
    """Why the components the audit names but the registry lacks are missing: the failures that left them out,
    else every plugin that failed to load."""
    wanted = [("loader", e.loader) for e in audit.ensembles.values()]
    wanted += [("tokenizer", e.tokenizer.name) for e in audit.ensembles.values() if e.tokenizer is not None]
    wanted += [("source", d.source) for d in audit.datasets.values()]
    for test in audit.tests:
        wanted += [("test_kind", test.kind)] + [("metric", m) for m in test.metrics or []]
        wanted += [("perturbation", p.name) for p in test.perturbations or []]
        if test.suite is not None:
            wanted.append(("suite", test.suite))
    hints = []
    for family, name in dict.fromkeys(wanted):
        if name not in registry.names(family):
            hint = registry.failure_hint(family, name).strip()
            if hint and hint not in hints:
                hints.append(hint)
    return "\n".join(hints)
