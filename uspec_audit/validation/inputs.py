"""Checks of the data and the models against the audit, from file headers only (no data, no sessions).

Every column the audit names (input or features, target, id, attributes,
path_column, a contrastive test's ``original`` keys) must exist in the
dataset; every member's declared input must accept the data after the
ensemble's preprocessing (:func:`uspec_audit.models.preprocess.resolve_layout`).
``uspec-audit validate`` and ``run`` both go through here (``run`` validates
first), so a misspelled column or a CHW/HWC mix-up is an audit-file error with
its line before any model loads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from uspec_audit.config.loaded import LoadedAudit, did_you_mean
from uspec_audit.data.probe import BUILTIN, DatasetSchema, ProbeError, named_columns, probe_dataset
from uspec_audit.models.preprocess import LayoutError, resolve_layout
from uspec_audit.models.signature import SignatureError, declared_inputs


def check_datasets(
    loaded: LoadedAudit, known_sources: set[str]
) -> tuple[dict[str, DatasetSchema], list[str], list[str]]:
    """Probe every dataset of a built-in source whose file exists; return (schemas, problems, notes).
    ``known_sources`` are the registered sources (an unknown one is reported elsewhere, not noted here)."""
    audit = loaded.model
    schemas: dict[str, DatasetSchema] = {}
    problems: list[str] = []
    notes: list[str] = []
    for name, config in audit.datasets.items():
        if config.source not in BUILTIN:
            if config.source in known_sources:
                notes.append(
                    f"dataset '{name}' (source '{config.source}', a plugin's): its columns and shapes "
                    f"are checked when the run opens it."
                )
            continue
        if not loaded.resolve(config.path).exists() or (
            config.table and not loaded.resolve(config.table).exists()
        ):
            continue  # already reported by check_audit
        try:
            schema = probe_dataset(config, loaded.base_dir)
        except ProbeError as error:
            problems.append(f"{loaded.where('datasets', name, 'path')}: dataset '{name}': {error}")
            continue
        if schema is None:
            continue
        schemas[name] = schema
        noun = "key" if config.source == "npz" else "column"
        for key, column in named_columns(config):
            if column not in schema.columns:
                problems.append(
                    f"{loaded.where('datasets', name, key)}: dataset '{name}': {key} {noun} "
                    f"'{column}' is not in {schema.where}.{did_you_mean(column, schema.columns)} "
                    f"{noun.capitalize()}s: {', '.join(schema.columns)}."
                )
        for key, problem in schema.problems:
            problems.append(f"{loaded.where('datasets', name, key)}: dataset '{name}': {problem}")
    return schemas, problems, notes


def check_member_inputs(
    loaded: LoadedAudit, members: dict, schemas: dict[str, DatasetSchema]
) -> tuple[list[str], list[str]]:
    """Each member's declared input against the data of every test it runs; return (problems, notes)."""
    audit = loaded.model
    problems: list[str] = []
    notes: list[str] = []
    for name, ensemble in audit.ensembles.items():
        if ensemble.tokenizer is not None:
            continue  # text: the tokenizer's named arrays are checked against the model when it loads
        datasets = list(
            dict.fromkeys(
                t.dataset
                for t in audit.tests
                if (t.ensembles is None or name in t.ensembles) and t.dataset in schemas
            )
        )
        reported: set[tuple] = set()
        for ref in members.get(name, []):
            if not Path(ref.path).exists():
                continue
            try:
                inputs = declared_inputs(ensemble.loader, ref.path)
            except (SignatureError, OSError, ValueError) as error:
                notes.append(
                    f"ensemble '{name}': could not read the declared input of {ref.path} ({error}); it "
                    f"is checked when the model loads."
                )
                continue
            if inputs is None:
                notes.append(
                    f"ensemble '{name}' (loader '{ensemble.loader}'): the members declare no input shape "
                    f"before they load; the data is checked against them at run time."
                )
                break
            where = loaded.where("ensembles", name)
            if ensemble.input_name is not None:
                chosen = [i for i in inputs if i.name == ensemble.input_name]
                if not chosen:
                    problems.append(
                        f"{loaded.where('ensembles', name, 'input_name')}: ensemble '{name}': member "
                        f"{ref.path} has no input named '{ensemble.input_name}'; its inputs: "
                        f"{[i.name for i in inputs]}."
                    )
                    continue
                model_input = chosen[0]
            elif len(inputs) != 1:
                problems.append(
                    f"{where}: ensemble '{name}': member {ref.path} has inputs {[i.name for i in inputs]}; "
                    f'name the one to feed with input_name = "..." or give a tokenizer.'
                )
                continue
            else:
                model_input = inputs[0]
            want = ensemble.preprocess.dtype
            if (
                model_input.dtype in ("float32", "float64", "float16", "int64", "int32", "uint8")
                and model_input.dtype != want
                and ("dtype", model_input.dtype) not in reported
            ):
                reported.add(("dtype", model_input.dtype))
                problems.append(
                    f"{loaded.where('ensembles', name, 'preprocess')}: ensemble '{name}': member "
                    f"{ref.path} expects dtype {model_input.dtype}; the preprocessing gives {want}. Set "
                    f'preprocess.dtype = "{model_input.dtype}".'
                )
            if model_input.dims is None:
                continue
            layout = "none" if np.issubdtype(np.dtype(want), np.integer) else ensemble.preprocess.layout
            for dataset in datasets:
                schema = schemas[dataset]
                key = (dataset, model_input.dims)
                if schema.input_shape is None or schema.input_kind == "text" or key in reported:
                    continue
                reported.add(key)
                try:
                    resolve_layout(layout, schema.input_shape, model_input.dims)
                except LayoutError as error:
                    problems.append(
                        f"{loaded.where('ensembles', name, 'preprocess')}: ensemble '{name}' on dataset "
                        f"'{dataset}' (member {ref.name}, input '{model_input.name}'): {error}"
                    )
    return problems, notes
