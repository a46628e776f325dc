"""Map key paths of a TOML document to the line that defines them.

``tomllib`` keeps no positions, yet a good error names the line. This scanner
follows table headers (``[a.b]``, ``[[tests]]`` with their array indices) and
``key = value`` lines; keys inside inline tables or multi-line values map to
the line of their parent key, which is where a user looks anyway.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-$]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-$]+))*)\s*="""
)


def _split_dotted(text: str) -> list[str]:
    parts = re.findall(r""""([^"]*)"|'([^']*)'|([A-Za-z0-9_\-$]+)""", text)
    return [a or b or c for a, b, c in parts]


def key_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Return ``{key path: 1-based line}`` for every table and key the scanner can see."""
    lines: dict[tuple[str | int, ...], int] = {}
    array_counts: dict[tuple, int] = {}
    current: tuple[str | int, ...] = ()
    depth = 0  # open brackets/braces of a multi-line value: keys inside belong to its parent
    in_multiline_string: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw
        if in_multiline_string:
            if in_multiline_string in line:
                in_multiline_string = None
            continue
        if depth == 0:
            header = _HEADER.match(line)
            if header:
                path = _split_dotted(header.group(2))
                if header.group(1) == "[[":
                    base = tuple(_resolve(path[:-1], array_counts)) + (path[-1],)
                    index = array_counts.get(base, -1) + 1
                    array_counts[base] = index
                    current = base + (index,)
                else:
                    current = tuple(_resolve(path, array_counts))
                lines.setdefault(current, number)
                continue
            key = _KEY.match(line)
            if key:
                key_path = current + tuple(_split_dotted(key.group(1)))
                lines.setdefault(key_path, number)
                value = line[key.end() :]
                for quote in ('"""', "'''"):
                    if value.count(quote) == 1:
                        in_multiline_string = quote
                depth += _bracket_balance(value)
                continue
        else:
            depth += _bracket_balance(line)
    return lines


def _resolve(path: list[str], array_counts: dict[tuple, int]) -> list[str | int]:
    """Expand a header path, inserting the index of arrays of tables it passes through."""
    resolved: list[str | int] = []
    for part in path:
        resolved.append(part)
        key = tuple(resolved)
        if key in array_counts:
            resolved.append(array_counts[key])
    return resolved


def _bracket_balance(value: str) -> int:
    """Net count of opening brackets/braces outside strings and comments."""
    balance = 0
    quote: str | None = None
    for char in value:
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "#":
            break
        elif char in "[{":
            balance += 1
        elif char in "]}":
            balance -= 1
    return balance


def line_of(lines: dict[tuple, int], path: tuple) -> int | None:
    """The line of ``path`` or of its nearest ancestor that the scanner saw."""
    for end in range(len(path), 0, -1):
        found = lines.get(tuple(path[:end]))
        if found is not None:
            return found
    return None
