"""A parsed audit file together with where it came from, and the helpers every message uses.

The lowest module of :mod:`uspec_audit.config`: :mod:`~uspec_audit.config.load` (reading),
:mod:`~uspec_audit.validation` (checking) and the rest import from here, never from each other in a circle.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from uspec_audit.config.locate import line_of
from uspec_audit.config.models import Audit


@dataclass(frozen=True)
class LoadedAudit:
    """A structurally validated audit file (:func:`~uspec_audit.config.load.parse_audit`), immutable.

    Checking it against the registry and the disk gives a :class:`~uspec_audit.config.checked.CheckedAudit`."""

    model: Audit
    path: Path
    text: str
    sha256: str
    lines: dict[tuple, int]

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        """A path of the audit file, relative to the audit file's folder."""
        path = Path(relative).expanduser()
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    @property
    def output_dir(self) -> Path:
        return self.resolve(self.model.audit.output or f"results/{self.model.audit.name}")

    def where(self, *path: str | int) -> str:
        """``file:line`` of a key path, for messages."""
        line = line_of(self.lines, tuple(path))
        return f"{self.path}:{line}" if line else str(self.path)


def format_path(path: tuple) -> str:
    """Render a key path like ``tests[2].contract.max_sd_ratio``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def did_you_mean(word: str, choices: list[str]) -> str:
    """`` Did you mean 'x'?`` or an empty string."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""
