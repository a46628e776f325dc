"""The JSON Schema of audit files, including the parameters of registered perturbations."""

from __future__ import annotations

from typing import Any

from uspec_audit.config.models import Audit


def audit_schema(registry) -> dict[str, Any]:
    """JSON Schema of the audit file; each registered perturbation's params model constrains
    ``perturbations[].params`` when ``name`` selects it (``if``/``then``)."""
    schema = Audit.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://uspec-audit.invalid/schemas/audit.schema.json"
    definitions = schema.setdefault("$defs", {})
    conditions = []
    for name in registry.names("perturbation"):
        spec = registry.get("perturbation", name)
        if spec.params is None:
            continue
        params_schema = spec.params.model_json_schema()
        for key, value in params_schema.pop("$defs", {}).items():
            definitions.setdefault(key, value)
        definition = f"perturbation:{name}"
        params_schema["description"] = spec.doc
        definitions[definition] = params_schema
        conditions.append({
            "if": {"properties": {"name": {"const": name}}, "required": ["name"]},
            "then": {"properties": {"params": {"$ref": f"#/$defs/{definition}"}}},
        })
    if conditions and "PerturbationRef" in definitions:
        definitions["PerturbationRef"]["allOf"] = conditions
    return schema


def write_builtin_schema(path) -> None:
    """Write the schema of the built-in components only (what ``schemas/audit.schema.json`` holds)."""
    import json
    from pathlib import Path

    from uspec_audit.plugins import build_registry

    text = json.dumps(audit_schema(build_registry(load_entry_points=False)), indent=2, sort_keys=True) + "\n"
    Path(path).write_text(text, encoding="utf-8")


if __name__ == "__main__":  # python -m uspec_audit.config.schema schemas/audit.schema.json
    import sys

    write_builtin_schema(sys.argv[1] if len(sys.argv) > 1 else "schemas/audit.schema.json")
