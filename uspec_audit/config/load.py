"""Read an audit file: TOML syntax and structural validation (:func:`parse_audit`); the checks against the
registry and the disk are :func:`uspec_audit.validation.load_audit`'s.

Every problem becomes an :class:`AuditFileError` naming the file, the line,
the key path, what was expected and (for misspellings) a did-you-mean. All
problems found are reported together, and nothing runs.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from uspec_audit.config.loaded import LoadedAudit, did_you_mean, format_path
from uspec_audit.config.locate import key_lines, line_of
from uspec_audit.config.models import Audit
from uspec_audit.errors import AuditFileError
from uspec_audit.files import read_bounded


def _model_at(path: tuple) -> type[BaseModel] | None:
    """The pydantic model that holds the key at ``path`` (for did-you-mean on unknown keys)."""
    model: type[BaseModel] | None = Audit
    for part in path[:-1]:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            # dict values (ensembles.NAME) or aliases: keep the model of the value type
            continue
        model = _inner_model(field.annotation)
    return model


def _inner_model(annotation) -> type[BaseModel] | None:
    from typing import get_args

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _validation_messages(error: ValidationError, audit_path: Path, lines: dict[tuple, int]) -> list[str]:
    messages = []
    for item in error.errors():
        loc = tuple(item["loc"])
        # pydantic reports dict keys and union branches in loc; drop union branch tags
        loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in {"str", "list[str]"})))
        line = line_of(lines, loc)
        where = f"{audit_path}:{line}" if line else str(audit_path)
        key = format_path(loc)
        kind = item["type"]
        if kind == "extra_forbidden":
            model = _model_at(loc)
            known = sorted(model.model_fields) if model else []
            hint = did_you_mean(str(loc[-1]), known)
            messages.append(f"{where}: unknown key '{key}'.{hint} Allowed here: {', '.join(known)}.")
        elif kind == "missing":
            messages.append(f"{where}: missing required key '{key}'.")
        else:
            value = item.get("input")
            shown = repr(value) if not isinstance(value, dict) else "a table"
            messages.append(f"{where}: '{key}' = {shown[:80]}: {item['msg']}.")
    return messages


MAX_AUDIT_BYTES = 1 << 20  # an audit file is a page of TOML; anything larger is not one
MAX_NESTING = 32  # tables and arrays inside each other; real audit files use fewer than 6


def _nesting(value: Any) -> int:
    """Depth of nested tables/arrays, computed without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_audit(path: Path) -> LoadedAudit:
    """Read and structurally validate an audit file (no registry or file checks)."""
    path = Path(path)
    if path.is_dir():
        raise AuditFileError(f"{path}: is a folder; expected an audit TOML file.")
    raw = read_bounded(path, MAX_AUDIT_BYTES, "audit file", AuditFileError)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise AuditFileError(f"{path}: not UTF-8 text ({error}); an audit file is TOML.") from error
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise AuditFileError(f"{path}: malformed TOML: {error}.") from error
    except RecursionError:
        raise AuditFileError(
            f"{path}: tables or arrays are nested too deeply to read (at most {MAX_NESTING} levels)."
        ) from None
    depth = _nesting(data)
    if depth > MAX_NESTING:
        raise AuditFileError(
            f"{path}: tables or arrays are nested {depth} levels deep; at most {MAX_NESTING} are accepted."
        )
    lines = key_lines(text)
    try:
        model = Audit.model_validate(data)
    except ValidationError as error:
        messages = _validation_messages(error, path, lines)
        raise AuditFileError(
            "The audit file is invalid:\n" + "\n".join(f"  - {m}" for m in messages)
        ) from error
    return LoadedAudit(
        model=model, path=path.resolve(), text=text, sha256=hashlib.sha256(raw).hexdigest(), lines=lines
    )
