"""A component's own options: ``options = {...}`` of loaders, sources and tokenizers, validated by its model.

``LoaderSpec.options``, ``DatasetSourceSpec.options`` and ``TokenizerSpec.options``
are pydantic models. Unknown keys are errors whatever the model's own
``extra`` setting (a misspelled option must never be ignored), with a
did-you-mean; a component without a model takes no options.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from uspec_audit.errors import AuditFileError


def _known_keys(model: type[BaseModel]) -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        keys.append(field.alias or name)
        if field.alias and field.alias != name and model.model_config.get("populate_by_name"):
            keys.append(name)
    return keys


def option_problems(model: type[BaseModel] | None, raw: dict[str, Any], what: str) -> tuple[Any, list[str]]:
    """``(validated options, problems)``: the instance of ``model`` (``None`` without a model) and one
    message per problem, each starting with the option's key path (``options.KEY``)."""
    if model is None:
        if raw:
            return None, [f"options: {what} takes no options, got {', '.join(sorted(map(str, raw)))}"]
        return None, []
    problems = []
    known = _known_keys(model)
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            problems.append(
                f"options.{key}: {what} has no option '{key}'.{hint} Options: {', '.join(known) or 'none'}"
            )
    if problems:
        return None, problems
    try:
        return model.model_validate(raw), []
    except ValidationError as error:
        for item in error.errors():
            key = ".".join(str(p) for p in item["loc"]) or "(options)"
            problems.append(
                f"options.{key}: {item['msg']} (got {item.get('input')!r:.80})"
                if item["type"] != "missing"
                else f"options.{key}: {what} needs this option"
            )
        return None, problems
    except Exception as error:  # a plugin's validator that raises something pydantic does not wrap
        return None, [f"options: {what} refused them: {type(error).__name__}: {error}"]


def validate_options(model: type[BaseModel] | None, raw: dict[str, Any], what: str, where: str = "") -> Any:
    """The validated options, or an :class:`AuditFileError` listing every problem (``where``: file:line)."""
    options, problems = option_problems(model, raw, what)
    if problems:
        prefix = f"{where}: " if where else ""
        raise AuditFileError(
            "The audit file is invalid:\n" + "\n".join(f"  - {prefix}{p}." for p in problems)
        )
    return options
