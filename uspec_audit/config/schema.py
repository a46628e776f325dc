"""The JSON Schema of audit files, including the parameters and options of registered components.

Each registered perturbation's ``params`` model constrains ``perturbations[].params``
when ``name`` selects it, and each loader's, source's and tokenizer's ``options``
model constrains the ``options`` of the tables that name it (``if``/``then``). Each
test kind's ``params`` model adds its keys to a ``[[tests]]`` table whose ``kind``
selects it; any other key is an error (``unevaluatedProperties``).
"""

from __future__ import annotations

from typing import Any

from uspec_audit.config.models import Audit, Dataset, Ensemble, PerturbationRef, StressTest, TokenizerRef

# family -> (model holding `options`/`params`, the key selecting the component, the key it constrains)
_CONDITIONAL = (
    ("perturbation", PerturbationRef, "name", "params"),
    ("loader", Ensemble, "loader", "options"),
    ("source", Dataset, "source", "options"),
    ("tokenizer", TokenizerRef, "name", "options"),
)


def audit_schema(registry) -> dict[str, Any]:
    """JSON Schema of the audit file with every registered component's own parameters and options."""
    schema = Audit.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://uspec-audit.invalid/schemas/audit.schema.json"
    definitions = schema.setdefault("$defs", {})
    for family, holder, selector, key in _CONDITIONAL:
        conditions = []
        for name in registry.names(family):
            spec = registry.get(family, name)
            model = getattr(spec, key)
            if model is None:
                continue
            component_schema = model.model_json_schema()
            for definition_name, value in component_schema.pop("$defs", {}).items():
                definitions.setdefault(definition_name, value)
            if key == "options":  # unknown options are errors whatever the model says (config.options)
                component_schema["additionalProperties"] = False
            component_schema["description"] = spec.doc
            definition = f"{family}:{name}"
            definitions[definition] = component_schema
            # the default component (loader "onnx") applies when the table leaves the selector out
            selects: dict[str, Any] = {"properties": {selector: {"const": name}}}
            if holder.model_fields[selector].default != name:
                selects["required"] = [selector]
            conditions.append(
                {"if": selects, "then": {"properties": {key: {"$ref": f"#/$defs/{definition}"}}}}
            )
        if conditions and holder.__name__ in definitions:
            definitions[holder.__name__]["allOf"] = conditions
    _kind_conditions(registry, definitions)
    return schema


def _kind_conditions(registry, definitions: dict[str, Any]) -> None:
    """A test table takes its kind's keys (``if kind == NAME then $ref test_kind:NAME``) and no others."""
    conditions = []
    for name in registry.names("test_kind"):
        spec = registry.get("test_kind", name)
        then: dict[str, Any] = {}
        if spec.params is not None:
            kind_schema = spec.params.model_json_schema()
            for definition_name, value in kind_schema.pop("$defs", {}).items():
                definitions.setdefault(definition_name, value)
            kind_schema.pop("additionalProperties", None)  # the test table's common keys sit beside them
            kind_schema["description"] = spec.doc
            definitions[f"test_kind:{name}"] = kind_schema
            then = {"$ref": f"#/$defs/test_kind:{name}"}
        conditions.append(
            {"if": {"properties": {"kind": {"const": name}}, "required": ["kind"]}, "then": then}
        )
    stress_test = definitions[StressTest.__name__]
    stress_test.pop("additionalProperties", None)
    stress_test["unevaluatedProperties"] = False
    stress_test["allOf"] = conditions


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
