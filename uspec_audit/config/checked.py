"""The checked audit: an immutable value built by :func:`uspec_audit.validation.check_audit` once the audit file
has been checked against the plugin registry and the disk. The engine and the pipeline take nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uspec_audit.components import TestKindSpec
from uspec_audit.config.loaded import LoadedAudit
from uspec_audit.config.models import Audit, StressTest
from uspec_audit.kind_api import Strata, Variant


@dataclass(frozen=True)
class MemberRef:
    """A resolved ensemble member."""

    name: str
    path: Path
    group: str | None = None
    attributes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CheckedTest:
    """One test after checking: its common keys, its kind's spec and validated parameters, its variants and
    strata. Built only by :func:`check_audit`; the engine runs exactly this."""

    __test__ = False  # not a pytest test class, despite its name

    index: int  # position in the audit file's [[tests]]
    config: StressTest
    kind: TestKindSpec
    params: Any
    variants: tuple[Variant, ...]
    strata: Strata | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def by(self) -> tuple[str, ...]:
        """The attributes the test splits on (empty without strata)."""
        return self.strata.by if self.strata is not None else ()


@dataclass(frozen=True)
class CheckedAudit:
    """An audit checked against the registry and the disk: immutable, and the only input the engine takes.

    ``members``: each ensemble's resolved member files; ``references``: each ensemble's iid reference test
    (``None`` when it has none); ``warnings``: what the user should know; ``notes``: what validation could
    not check (plugin sources, TorchScript members); ``trust_notes``: code the user enabled (``--allow-code``).
    """

    loaded: LoadedAudit
    tests: tuple[CheckedTest, ...]
    members: Mapping[str, tuple[MemberRef, ...]]
    references: Mapping[str, str | None]
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    trust_notes: tuple[str, ...] = ()

    @property
    def model(self) -> Audit:
        return self.loaded.model

    @property
    def path(self) -> Path:
        return self.loaded.path

    def where(self, *path: str | int) -> str:
        """``file:line`` of a key path, for messages."""
        return self.loaded.where(*path)

    def test(self, name: str) -> CheckedTest:
        """The checked test named ``name`` (KeyError when absent)."""
        for test in self.tests:
            if test.name == name:
                return test
        raise KeyError(name)
