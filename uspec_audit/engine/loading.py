"""Load what an audit names through its components: members (loaders), readers (sources), tokenizers.

Every component, built-in or a plugin's, is called the same way: its options
validated by its own model, one request object, the returned object checked
against its protocol (:mod:`uspec_audit.conformance`), and any error raised
inside it named with the plugin, the component and the audit key
(ensemble and member, or dataset). The engine never writes to a plugin's
object: a member's audit name lives in the :class:`NamedMember` around it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from uspec_audit.config.loaded import LoadedAudit
from uspec_audit.config.options import validate_options
from uspec_audit.conformance import Blame, member_problems, tokenizer_problems
from uspec_audit.data.opening import open_dataset
from uspec_audit.engine.executor import LoadedEnsemble
from uspec_audit.engine.plan import Plan
from uspec_audit.engine.progress import Progress
from uspec_audit.errors import RunError
from uspec_audit.fingerprint import file_sha256, spec_sha256, tree_sha256
from uspec_audit.protocols import LoadRequest, TokenizerRequest

MEMBER_GUIDE = " A loader returns an object following uspec_audit.Member (docs/plugins.md)."
TOKENIZER_GUIDE = " A tokenizer follows uspec_audit.Tokenizer (docs/plugins.md)."


class NamedMember:
    """A loaded member under its audit name. Attributes other than ``name`` come from the member itself."""

    def __init__(self, name: str, member: Any, blame: Blame, ensemble: str):
        self.name, self.member, self.blame, self.ensemble = name, member, blame, ensemble

    def __getattr__(self, attribute: str) -> Any:
        if attribute in ("member", "blame"):  # not set yet: never recurse
            raise AttributeError(attribute)
        return getattr(self.member, attribute)

    def __repr__(self) -> str:
        return f"NamedMember({self.name!r}, {self.member!r})"

    @property
    def fingerprint(self) -> str:
        return self.member.fingerprint

    @property
    def providers(self) -> list[str]:
        return list(self.member.providers)

    def _doing(self, what: str) -> str:
        return f"failed {what} member '{self.name}' of ensemble '{self.ensemble}'"

    def predict(self, x: Any):
        if self.blame.builtin:
            return self.member.predict(x)
        try:
            return self.member.predict(x)
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as error:
            raise self.blame.error(self._doing("predicting with"), error) from error

    def check_input(self, x: Any) -> None:
        check = getattr(self.member, "check_input", None)
        if check is None:
            return
        try:
            check(x)
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as error:
            raise self.blame.error(self._doing("checking the inputs of"), error) from error


class NamedTokenizer:
    """A tokenizer whose errors name its plugin and ensemble."""

    def __init__(self, tokenizer: Any, blame: Blame, ensemble: str):
        self.tokenizer, self.blame, self.ensemble = tokenizer, blame, ensemble

    def __getattr__(self, attribute: str) -> Any:
        if attribute in ("tokenizer", "blame"):
            raise AttributeError(attribute)
        return getattr(self.tokenizer, attribute)

    def encode_batch(self, texts):
        try:
            return self.tokenizer.encode_batch(texts)
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as error:
            if self.blame.builtin and isinstance(error, ValueError | TypeError):
                raise  # the engine reports these as preprocessing errors of the ensemble
            raise self.blame.error(f"failed tokenizing for ensemble '{self.ensemble}'", error) from error


def load_member(
    source: Any,
    path: Path,
    *,
    name: str,
    ensemble: str,
    options: dict | None = None,
    device: str = "auto",
    output_index: int = 0,
    input_name: str | None = None,
    task: str = "multiclass",
    base_dir: Path = Path("."),
) -> NamedMember:
    """Load one member with a loader (a registered record, or a bare ``LoaderSpec``) the way a run does."""
    spec = getattr(source, "spec", source)
    blame = (
        Blame.of(source, "loader") if hasattr(source, "spec") else Blame.of_spec(spec, "loader", spec.load)
    )
    validated = validate_options(
        spec.options, dict(options or {}), f"{blame.subject} of ensemble '{ensemble}'"
    )
    request = LoadRequest(
        path=Path(path),
        name=name,
        ensemble=ensemble,
        options=validated,
        device=device,
        output_index=output_index,
        input_name=input_name,
        task=task,
        base_dir=Path(base_dir),
    )
    try:
        member = spec.load(request)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as error:
        raise blame.error(
            f"failed to load member '{name}' of ensemble '{ensemble}' ({path})", error
        ) from error
    try:
        problems = member_problems(member)
    except Exception as error:  # a property of the member that raises
        raise blame.error(
            f"failed to load member '{name}' of ensemble '{ensemble}' ({path})", error
        ) from error
    if problems:
        raise blame.broken(
            f"the member it loaded from {path} (ensemble '{ensemble}', a {type(member).__name__}) "
            f"does not follow the Member protocol:",
            problems,
            MEMBER_GUIDE,
        )
    return NamedMember(name, member, blame, ensemble)


def load_ensembles(loaded: LoadedAudit, plan: Plan, registry, device: str, progress: Progress) -> dict:
    """Every member of every ensemble the plan needs, with the ensembles' tokenizers."""
    needed = sorted({e for group in plan.groups for e in group.ensembles})
    total = sum(len(plan.members[e]) for e in needed)
    ensembles: dict[str, LoadedEnsemble] = {}
    with progress.step("Loading models", total) as advance:
        for name in needed:
            config = loaded.model.ensembles[name]
            record = registry.record("loader", config.loader)
            members = []
            for ref in plan.members[name]:
                members.append(
                    load_member(
                        record,
                        ref.path,
                        name=ref.name,
                        ensemble=name,
                        options=config.options,
                        device=device,
                        output_index=config.output_index,
                        input_name=config.input_name,
                        task=config.task,
                        base_dir=loaded.base_dir,
                    )
                )
                advance()
            tokenizer, tokenizer_fingerprint = make_tokenizer(loaded, registry, name)
            identities = [registry.identity("loader", config.loader)]
            if config.tokenizer is not None:
                identities.append(registry.identity("tokenizer", config.tokenizer.name))
            ensembles[name] = LoadedEnsemble(
                name,
                config,
                members,
                [ref.group for ref in plan.members[name]],
                tokenizer,
                tokenizer_fingerprint,
                code_identity=spec_sha256(*identities),
            )
    return ensembles


def make_tokenizer(loaded: LoadedAudit, registry, name: str) -> tuple[NamedTokenizer | None, str]:
    """The ensemble's tokenizer (text models) and a fingerprint of what it read, or (None, "")."""
    ref = loaded.model.ensembles[name].tokenizer
    if ref is None:
        return None, ""
    record = registry.record("tokenizer", ref.name)
    blame = Blame.of(record, "tokenizer")
    path = loaded.resolve(ref.path) if ref.path is not None else None
    options = validate_options(
        record.spec.options, dict(ref.options), f"{blame.subject} of ensemble '{name}'"
    )
    request = TokenizerRequest(
        ensemble=name, path=path, max_length=ref.max_length, options=options, base_dir=loaded.base_dir
    )
    try:
        tokenizer = record.spec.make(request)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as error:
        raise blame.error(f"failed to load for ensemble '{name}'", error) from error
    problems = tokenizer_problems(tokenizer)
    if problems:
        raise blame.broken(
            f"the tokenizer it made for ensemble '{name}' ({type(tokenizer).__name__}) does not "
            f"follow the Tokenizer protocol:",
            problems,
            TOKENIZER_GUIDE,
        )
    fingerprint = spec_sha256(_content_hash(path), getattr(tokenizer, "fingerprint", "") or "")
    return NamedTokenizer(tokenizer, blame, name), fingerprint


def _content_hash(path: Path | None) -> str:
    """sha256 of a tokenizer's file, or of every file of its folder."""
    if path is None or not path.exists():
        return ""
    if path.is_dir():
        return tree_sha256(sorted(p for p in path.rglob("*") if p.is_file()))
    return file_sha256(path)


def open_readers(loaded: LoadedAudit, plan: Plan, registry) -> dict:
    """A reader for every dataset the plan streams."""
    readers = {}
    for name in sorted({group.dataset for group in plan.groups}):
        config = loaded.model.datasets[name]
        record = registry.record("source", config.source)
        try:
            readers[name] = open_dataset(record, config, loaded.base_dir, name=name)
        except RunError as error:
            if not record.builtin or str(error).startswith(f"dataset '{name}'"):
                raise
            raise RunError(f"dataset '{name}': {error}") from error
        if readers[name].num_examples == 0:
            raise RunError(f"dataset '{name}' ({readers[name].path}) has no examples; an audit needs data.")
    return readers
