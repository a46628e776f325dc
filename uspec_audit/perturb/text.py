"""Built-in text perturbations (on raw strings, before tokenization).

Inputs are ``numpy`` object arrays of ``str``: ``(B,)`` single texts, or
``(B, k)`` for text pairs/tuples (e.g. NLI premise and hypothesis). A Python
list is accepted and a list is returned. ``columns`` picks which fields of a
``(B, k)`` array are perturbed.

=========================  ========================================================  ==========================
name                       what it does                                              severity 1..5
=========================  ========================================================  ==========================
``typos``                  per letter, at ``rate``: swap with the next letter,       rate 0.02, 0.05, 0.1,
                           drop, or duplicate it (optionally replace); seeded per    0.15, 0.2
                           example
``word_substitution``      swap words from a lexicon (shipped: ``gender_swap``),     (none: deterministic)
                           word-boundary aware, case-preserving
``distractor``             append " and true is true" (Naik et al. 2018)             (none)
``negation_distractor``    append " and false is not true" (Naik et al. 2018)        (none)
=========================  ========================================================  ==========================

Tokenization happens after perturbation, in the model's preprocessing: a
:class:`uspec_audit.Tokenizer` maps a list of texts to named ``int64`` arrays
(the model's input names); the tokenizers live in :mod:`uspec_audit.models.tokenizers`.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from uspec_audit.components import PerturbationSpec, PerturbContext
from uspec_audit.perturb.tabular import get_params, strength

LEXICON_DIR = Path(__file__).parent / "lexicons"
TYPO_SEVERITY = {1: 0.02, 2: 0.05, 3: 0.1, 4: 0.15, 5: 0.2}
NAIK = "Naik et al. (2018), Stress Test Evaluation for Natural Language Inference"

_COLUMNS = Field(
    default=None,
    description="For (B, k) inputs, the indices of the fields to perturb; None: every field.",
)


# --------------------------------------------------------------------------- input handling


def _text_array(inputs, name: str) -> tuple[np.ndarray, bool]:
    """A 2-D object copy ``(B, k)`` of the texts, and whether the input was 1-D."""
    arr = np.array(inputs, dtype=object, copy=True)
    if arr.ndim == 1:
        arr = arr[:, None]
        flat = True
    elif arr.ndim == 2:
        flat = False
    else:
        raise ValueError(f"{name} expects texts shaped (B,) or (B, k), got shape {arr.shape}")
    for value in arr.ravel():
        if not isinstance(value, str):
            raise TypeError(f"{name} expects str texts, got {type(value).__name__}")
    return arr, flat


def _restore(arr: np.ndarray, flat: bool, like):
    out = arr[:, 0] if flat else arr
    if isinstance(like, list):
        return out.tolist()
    return out


def _columns(requested: list[int] | None, k: int, name: str, default: list[int] | None = None) -> list[int]:
    cols = requested if requested is not None else (default if default is not None else list(range(k)))
    bad = [c for c in cols if not -k <= c < k]
    if bad:
        raise ValueError(f"{name}: columns {bad} out of range for texts with {k} field(s)")
    return sorted({c % k for c in cols})


def _map_texts(inputs, name: str, columns: list[int] | None, fn: Callable[[str], str], default=None):
    arr, flat = _text_array(inputs, name)
    for c in _columns(columns, arr.shape[1], name, default):
        arr[:, c] = [fn(s) for s in arr[:, c]]
    return _restore(arr, flat, inputs)


# --------------------------------------------------------------------------- typos

TypoOp = Literal["swap", "drop", "duplicate", "replace"]


class TyposParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Probability that each letter receives a typo; overrides the severity "
        "(1-5: 0.02, 0.05, 0.1, 0.15, 0.2).",
    )
    ops: list[TypoOp] = Field(
        default=["swap", "drop", "duplicate"],
        min_length=1,
        description="Typo kinds, drawn uniformly per typo: swap with the next letter, drop, duplicate, "
        "replace by a random letter.",
    )
    columns: list[int] | None = _COLUMNS


_LETTERS = "abcdefghijklmnopqrstuvwxyz"
# a whole word of letters (no digits or underscores inside or around it), and the word after a match
_WORD = re.compile(r"\b[^\W\d_]+\b")
_NEXT_WORD = re.compile(r"\s*([^\W\d_]+)")


def _typo_string(s: str, rng: np.random.Generator, rate: float, ops: list[str]) -> str:
    n = len(s)
    if n == 0:
        return s
    u = rng.random(n)
    which = rng.integers(0, len(ops), n)
    letters = rng.integers(0, len(_LETTERS) - 1, n)
    hits = np.flatnonzero(u < rate)
    if hits.size == 0:
        return s
    chars = list(s)
    out: list[str] = []
    start = 0
    skip_until = -1
    for i in hits.tolist():
        if i < skip_until or not chars[i].isalpha():
            continue
        out.extend(chars[start:i])
        c = chars[i]
        op = ops[which[i]]
        start = i + 1
        if op == "swap":
            if i + 1 < n and chars[i + 1].isalpha() and chars[i + 1] != c:
                out.extend((chars[i + 1], c))
                start = skip_until = i + 2
            else:
                out.append(c)
        elif op == "duplicate":
            out.extend((c, c))
        elif op == "replace":
            lower = c.lower()
            pool = _LETTERS.replace(lower, "") if lower in _LETTERS else _LETTERS[:-1]
            r = pool[letters[i]]
            out.append(r.upper() if c.isupper() else r)
        # "drop": nothing appended
    out.extend(chars[start:])
    return "".join(out)


def typos(inputs, ctx: PerturbContext):
    """Introduce character typos at a per-letter rate, seeded per example."""
    p = get_params(ctx, TyposParams)
    rate = strength(p.rate, ctx.severity, TYPO_SEVERITY, "typos", "rate")
    arr, flat = _text_array(inputs, "typos")
    if ctx.seeds is None or len(ctx.seeds) != arr.shape[0]:
        raise ValueError(f"typos: expected one seed per example ({arr.shape[0]})")
    cols = _columns(p.columns, arr.shape[1], "typos")
    for i, seed in enumerate(np.asarray(ctx.seeds).tolist()):
        rng = np.random.default_rng(int(seed))
        for c in cols:
            arr[i, c] = _typo_string(arr[i, c], rng, rate, list(p.ops))
    return _restore(arr, flat, inputs)


# --------------------------------------------------------------------------- word substitution


class Lexicon:
    """A word-substitution lexicon: bidirectional pairs, one-way and contextual entries.

    TOML layout (see ``lexicons/gender_swap.toml``)::

        [lexicon]
        name = "..."
        pairs = [["he", "she"], ...]          # bidirectional, one-to-one
        [lexicon.one_way]
        his = "her"
        [lexicon.contextual.her]              # object form before punctuation/followers
        default = "his"
        object = "him"
        followers = ["the", "to", ...]
    """

    def __init__(
        self,
        name: str,
        pairs: list[tuple[str, str]],
        one_way: dict[str, str] | None = None,
        contextual: dict[str, dict] | None = None,
    ) -> None:
        self.name = name
        mapping: dict[str, str] = {}
        for a, b in pairs:
            a, b = a.lower(), b.lower()
            for w in (a, b):
                if w in mapping:
                    raise ValueError(f"lexicon {name!r}: {w!r} appears in more than one pair")
            mapping[a], mapping[b] = b, a
        for a, b in (one_way or {}).items():
            mapping.setdefault(a.lower(), b.lower())
        self.mapping = mapping
        self.contextual = {
            w.lower(): (
                str(entry["default"]).lower(),
                str(entry.get("object", entry["default"])).lower(),
                frozenset(f.lower() for f in entry.get("followers", ())),
            )
            for w, entry in (contextual or {}).items()
        }
        self._check_words()

    def _check_words(self) -> None:
        words = set(self.mapping) | set(self.mapping.values()) | set(self.contextual)
        words |= {w for default, obj, _ in self.contextual.values() for w in (default, obj)}
        bad = sorted(w for w in words if not _WORD.fullmatch(w))
        if bad:
            raise ValueError(f"lexicon {self.name!r}: entries must be single words of letters, got {bad}")

    @classmethod
    def from_toml(cls, path: Path) -> Lexicon:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        lex = data.get("lexicon", data)
        return cls(
            name=lex.get("name", Path(path).stem),
            pairs=[tuple(p) for p in lex.get("pairs", [])],
            one_way=lex.get("one_way"),
            contextual=lex.get("contextual"),
        )

    def with_pairs(self, pairs: list[tuple[str, str]]) -> Lexicon:
        """A copy whose mapping is extended (and overridden) by extra bidirectional ``pairs``."""
        new = Lexicon.__new__(Lexicon)
        new.name = self.name
        new.mapping = dict(self.mapping)
        new.contextual = dict(self.contextual)
        for a, b in pairs:
            a, b = a.lower(), b.lower()
            new.mapping[a], new.mapping[b] = b, a
            new.contextual.pop(a, None)
            new.contextual.pop(b, None)
        new._check_words()
        return new

    def _replacement(self, text: str, match: re.Match) -> str:
        word = match.group(0)
        key = word.lower()
        if key in self.contextual:
            default, obj, followers = self.contextual[key]
            nxt = _NEXT_WORD.match(text, match.end())
            target = obj if nxt is None or nxt.group(1).lower() in followers else default
        elif key in self.mapping:
            target = self.mapping[key]
        else:
            return word
        return _match_case(word, target)

    def apply(self, text: str) -> str:
        """``text`` with every lexicon word swapped (whole words only, case pattern kept)."""
        return _WORD.sub(lambda m: self._replacement(text, m), text)


def _match_case(source: str, target: str) -> str:
    if len(source) > 1 and source.isupper():
        return target.upper()
    if source[:1].isupper():
        return target[:1].upper() + target[1:]
    return target


@functools.lru_cache(maxsize=32)
def load_lexicon(name_or_path: str) -> Lexicon:
    """A shipped lexicon by name (``gender_swap``) or a TOML file by path."""
    shipped = LEXICON_DIR / f"{name_or_path}.toml"
    if shipped.is_file():
        return Lexicon.from_toml(shipped)
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.is_file():
        return Lexicon.from_toml(path)
    available = sorted(p.stem for p in LEXICON_DIR.glob("*.toml"))
    raise ValueError(
        f"unknown lexicon {name_or_path!r}: not a shipped lexicon ({', '.join(available)}) nor a TOML file"
    )


class WordSubstitutionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lexicon: str = Field(
        default="gender_swap",
        description="A shipped lexicon name (gender_swap) or the path of a lexicon TOML file.",
    )
    pairs: list[tuple[str, str]] = Field(
        default=[], description="Extra bidirectional word pairs, added to (and overriding) the lexicon."
    )
    columns: list[int] | None = _COLUMNS


def word_substitution(inputs, ctx: PerturbContext):
    """Swap the lexicon's words, on word boundaries, keeping each word's case pattern."""
    p = get_params(ctx, WordSubstitutionParams)
    lex = load_lexicon(p.lexicon)
    if p.pairs:
        lex = lex.with_pairs(list(p.pairs))
    return _map_texts(inputs, "word_substitution", p.columns, lex.apply)


# --------------------------------------------------------------------------- distractors


class DistractorParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phrase: str = Field(default=" and true is true", description="Text appended to each perturbed field.")
    before_final_punctuation: bool = Field(
        default=True,
        description="Insert the phrase before a final '.', '!' or '?' (as Naik et al. do) rather than after it.",
    )
    columns: list[int] | None = Field(
        default=None,
        description="For (B, k) inputs, the fields to append to; None: the last field (the NLI hypothesis).",
    )


class NegationDistractorParams(DistractorParams):
    phrase: str = Field(
        default=" and false is not true", description="Text appended to each perturbed field."
    )


_FINAL = re.compile(r"^(.*?)(\s*[.!?]+[\"')\]]*\s*)$", re.DOTALL)


def _append(phrase: str, before_punct: bool) -> Callable[[str], str]:
    def fn(s: str) -> str:
        if before_punct:
            m = _FINAL.match(s)
            if m and m.group(1):
                return m.group(1) + phrase + m.group(2)
        return s.rstrip() + phrase if s.strip() else phrase.lstrip()

    return fn


def distractor(inputs, ctx: PerturbContext):
    """Append a meaningless tautology (default " and true is true")."""
    p = get_params(ctx, DistractorParams)
    return _map_texts(
        inputs, "distractor", p.columns, _append(p.phrase, p.before_final_punctuation), default=[-1]
    )


def negation_distractor(inputs, ctx: PerturbContext):
    """Append a tautology containing a negation word (default " and false is not true")."""
    p = get_params(ctx, NegationDistractorParams)
    return _map_texts(
        inputs, "negation_distractor", p.columns, _append(p.phrase, p.before_final_punctuation), default=[-1]
    )


# --------------------------------------------------------------------------- registration


def register_text_perturbations(register: Callable[[PerturbationSpec], None]) -> None:
    """Register the built-in text perturbations."""
    register(
        PerturbationSpec(
            name="typos",
            apply=typos,
            modality="text",
            doc="Character typos (swap with next letter, drop, duplicate) at a per-letter rate.",
            source=NAIK + " (spelling errors)",
            params=TyposParams,
            severities=(1, 2, 3, 4, 5),
        )
    )
    register(
        PerturbationSpec(
            name="word_substitution",
            apply=word_substitution,
            modality="text",
            doc="Swap words from a lexicon (default gender_swap: he<->she, man<->woman, ...), case-preserving.",
            source="Counterfactual data augmentation word lists (Zhao et al. 2018; Lu et al. 2020)",
            params=WordSubstitutionParams,
        )
    )
    register(
        PerturbationSpec(
            name="distractor",
            apply=distractor,
            modality="text",
            doc='Append the tautology " and true is true" (Naik et al. 2018 word-overlap stress test).',
            source=NAIK,
            params=DistractorParams,
        )
    )
    register(
        PerturbationSpec(
            name="negation_distractor",
            apply=negation_distractor,
            modality="text",
            doc='Append the tautology " and false is not true" (Naik et al. 2018 negation stress test).',
            source=NAIK,
            params=NegationDistractorParams,
        )
    )
