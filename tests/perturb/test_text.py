"""Tests of the built-in text perturbations and the tokenizer hook on real strings."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from pydantic import ValidationError

from uspec_audit import Tokenizer
from uspec_audit.components import PerturbationSpec, PerturbContext
from uspec_audit.models.tokenizers import TokenizersTokenizer
from uspec_audit.perturb.text import (
    DistractorParams,
    Lexicon,
    NegationDistractorParams,
    TyposParams,
    WordSubstitutionParams,
    distractor,
    load_lexicon,
    negation_distractor,
    register_text_perturbations,
    typos,
    word_substitution,
)

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on stage.",
    "She said that her brother would visit tomorrow!",
    "Nobody expected the Spanish inquisition",
    "",
    "12345 ... ???",
]


def texts(n: int = 200) -> np.ndarray:
    rng = np.random.default_rng(0)
    words = "patient doctor kidney creatinine morning evening result normal elevated measured stable".split()
    return np.array([" ".join(rng.choice(words, 12)) for _ in range(n)], dtype=object)


def ctx(n, params=None, severity=None, seeds=None) -> PerturbContext:
    return PerturbContext(
        seeds=np.arange(7, 7 + n, dtype=np.uint64) if seeds is None else seeds,
        severity=severity,
        params=params,
    )


def letters(s: str) -> int:
    return sum(c.isalpha() for c in s)


def test_registration():
    specs: list[PerturbationSpec] = []
    register_text_perturbations(specs.append)
    assert {s.name for s in specs} == {"typos", "word_substitution", "distractor", "negation_distractor"}
    for s in specs:
        assert s.modality == "text" and s.params.model_config.get("extra") == "forbid"
        assert all(f.description for f in s.params.model_fields.values())


# --------------------------------------------------------------------------- typos


def test_typos_shape_type_and_input_untouched():
    x = np.array(SENTENCES, dtype=object)
    before = x.copy()
    out = typos(x, ctx(len(x), severity=5))
    assert isinstance(out, np.ndarray) and out.dtype == object and out.shape == x.shape
    assert all(isinstance(s, str) for s in out)
    np.testing.assert_array_equal(x, before)
    assert out[4] == "" and out[5] == "12345 ... ???"  # nothing to misspell
    as_list = typos(SENTENCES, ctx(len(x), severity=5))
    assert isinstance(as_list, list) and as_list == out.tolist()


def test_typos_deterministic_and_batch_independent():
    x = texts()
    seeds = np.arange(100, 100 + len(x), dtype=np.uint64)
    full = typos(x, ctx(len(x), severity=3, seeds=seeds))
    np.testing.assert_array_equal(full, typos(x, ctx(len(x), severity=3, seeds=seeds)))
    idx = np.array([17, 3, 150, 42])
    np.testing.assert_array_equal(typos(x[idx], ctx(4, severity=3, seeds=seeds[idx])), full[idx])
    other = typos(x, ctx(len(x), severity=3, seeds=seeds + np.uint64(1)))
    assert (other != full).mean() > 0.5


@pytest.mark.parametrize("rate", [0.05, 0.2])
def test_typos_rate_drop_and_duplicate(rate):
    x = texts()
    n_letters = sum(letters(s) for s in x)
    drop = typos(x, ctx(len(x), TyposParams(rate=rate, ops=["drop"])))
    assert abs(1 - sum(letters(s) for s in drop) / n_letters - rate) < 0.2 * rate
    dup = typos(x, ctx(len(x), TyposParams(rate=rate, ops=["duplicate"])))
    assert abs(sum(letters(s) for s in dup) / n_letters - 1 - rate) < 0.2 * rate


def test_typos_swap_and_replace_keep_length():
    x = texts()
    n_letters = sum(letters(s) for s in x)
    for ops, per_typo in ((["replace"], 1.0), (["swap"], 2.0)):
        out = typos(x, ctx(len(x), TyposParams(rate=0.1, ops=ops)))
        assert all(len(a) == len(b) for a, b in zip(out, x, strict=False))
        changed = sum(sum(c != d for c, d in zip(a, b, strict=False)) for a, b in zip(out, x, strict=False))
        # a swap is skipped when the next character is not a different letter
        assert 0.5 * per_typo * 0.1 < changed / n_letters < 1.2 * per_typo * 0.1
        assert sorted("".join(out)) == sorted("".join(x)) if ops == ["swap"] else True


def test_typos_monotone_in_severity():
    x = texts()
    changed = []
    for sev in (1, 2, 3, 4, 5):
        out = typos(x, ctx(len(x), severity=sev))
        changed.append(
            sum(a != b for a, b in zip(out, x, strict=False))
            + sum(abs(len(a) - len(b)) for a, b in zip(out, x, strict=False))
        )
    assert all(a < b for a, b in zip(changed, changed[1:], strict=False))


def test_typos_pairs_columns():
    x = np.array([["A man sleeps.", "A person is asleep."]] * 20, dtype=object)
    out = typos(x, ctx(20, TyposParams(rate=0.5, columns=[1])))
    np.testing.assert_array_equal(out[:, 0], x[:, 0])
    assert (out[:, 1] != x[:, 1]).any()
    with pytest.raises(ValueError, match="out of range"):
        typos(x, ctx(20, TyposParams(rate=0.5, columns=[2])))


def test_typos_errors():
    with pytest.raises(ValueError, match="severity"):
        typos(texts(3), ctx(3))
    with pytest.raises(ValueError, match="seed"):
        typos(texts(3), ctx(2, severity=1, seeds=np.arange(2, dtype=np.uint64)))
    with pytest.raises(TypeError, match="str"):
        typos(np.array(["a", 3], dtype=object), ctx(2, severity=1))
    with pytest.raises(ValidationError):
        TyposParams(ops=["explode"])


# --------------------------------------------------------------------------- word substitution


def test_gender_swap_examples():
    x = np.array(
        [
            "He said his wife met her brother.",
            "The MAN and the woman; Mr. Smith thanked HER.",
            "Shell and heat are not pronouns, nor is 'mankind'.",
            "She gave him her book and told her to go.",
            "He's the king's son-in-law.",
        ],
        dtype=object,
    )
    out = word_substitution(x, ctx(len(x)))
    assert out[0] == "She said her husband met his sister."
    assert out[1] == "The WOMAN and the man; Mrs. Smith thanked HIM."
    assert out[2] == x[2]  # word-boundary aware: no match inside words
    assert out[3] == "He gave her his book and told him to go."
    assert out[4] == "She's the queen's daughter-in-law."


def test_gender_swap_round_trips():
    x = np.array(
        [
            "He is a good man and she is a great woman.",
            "My Father and MOTHER visited their sons and daughters.",
            "The actress thanked the waiter, the bride and the groom.",
            "Her car is red; his bike is blue.",
            "Herself, himself; boys will be boys.",
        ],
        dtype=object,
    )
    once = word_substitution(x, ctx(len(x)))
    assert (once != x).all()
    np.testing.assert_array_equal(word_substitution(once, ctx(len(x))), x)


def test_lexicon_is_one_to_one_and_params():
    lex = load_lexicon("gender_swap")
    for word, target in lex.mapping.items():
        if word not in ("his", "hers", "him", "her"):
            assert lex.mapping[target] == word, word
    out = word_substitution(
        ["The cat chased the dog."], ctx(1, WordSubstitutionParams(pairs=[("cat", "dog")]))
    )
    assert out == ["The dog chased the cat."]
    with pytest.raises(ValueError, match="unknown lexicon"):
        word_substitution(["x"], ctx(1, WordSubstitutionParams(lexicon="klingon")))
    with pytest.raises(ValueError, match="more than one pair"):
        Lexicon("bad", [("a", "b"), ("b", "c")])


def test_lexicon_from_file(tmp_path):
    path = tmp_path / "colors.toml"
    path.write_text('[lexicon]\nname = "colors"\npairs = [["red", "blue"]]\n')
    out = word_substitution(
        np.array(["Red sky, BLUE sea"], dtype=object), ctx(1, WordSubstitutionParams(lexicon=str(path)))
    )
    assert out[0] == "Blue sky, RED sea"


# --------------------------------------------------------------------------- distractors


def test_distractors():
    x = np.array(["A man sleeps.", "It rains", "Really?!  "], dtype=object)
    out = distractor(x, ctx(3))
    assert out.tolist() == [
        "A man sleeps and true is true.",
        "It rains and true is true",
        "Really and true is true?!  ",
    ]
    out = negation_distractor(x, ctx(3, NegationDistractorParams(before_final_punctuation=False)))
    assert out.tolist() == [
        "A man sleeps. and false is not true",
        "It rains and false is not true",
        "Really?! and false is not true",
    ]
    pairs = np.array([["A man sleeps.", "A person sleeps."]], dtype=object)
    out = distractor(pairs, ctx(1))
    assert (
        out.shape == (1, 2)
        and out[0, 0] == "A man sleeps."
        and out[0, 1] == "A person sleeps and true is true."
    )
    out = distractor(pairs, ctx(1, DistractorParams(columns=[0, 1], phrase=" indeed")))
    assert out[0].tolist() == ["A man sleeps indeed.", "A person sleeps indeed."]


# --------------------------------------------------------------------------- tokenizer


def _word_level_tokenizer(tmp_path):
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models, pre_tokenizers

    vocab = {"[PAD]": 0, "[UNK]": 1, "a": 2, "man": 3, "sleeps": 4, "and": 5, "true": 6, "is": 7, ".": 8}
    tok = HFTokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    return path


def test_tokenizers_tokenizer(tmp_path):
    if importlib.util.find_spec("tokenizers") is None:
        print("SKIP reason: the 'tokenizers' package is not installed")
        pytest.skip("the 'tokenizers' package is not installed")
    path = _word_level_tokenizer(tmp_path)
    tok = TokenizersTokenizer(tmp_path, max_length=6)
    assert isinstance(tok, Tokenizer)
    texts_ = distractor(["a man sleeps .", "a woman"], ctx(2))
    out = tok.encode_batch(list(texts_))
    assert set(out) == {"input_ids", "attention_mask"}
    assert all(v.dtype == np.int64 and v.shape == (2, 6) for v in out.values())
    np.testing.assert_array_equal(out["input_ids"], [[2, 3, 4, 5, 6, 7], [2, 1, 5, 6, 7, 6]])
    np.testing.assert_array_equal(out["attention_mask"], np.ones((2, 6)))
    short = TokenizersTokenizer(
        path, max_length=10, padding="longest", names={"input_ids": "ids", "token_type_ids": "segments"}
    )
    out = short.encode_batch(["a man", "sleeps"])
    assert set(out) == {"ids", "segments"}
    np.testing.assert_array_equal(out["ids"], [[2, 3], [4, 0]])
    padded = TokenizersTokenizer(path, max_length=4).encode_batch(["man"])
    np.testing.assert_array_equal(padded["input_ids"], [[3, 0, 0, 0]])
    np.testing.assert_array_equal(padded["attention_mask"], [[1, 0, 0, 0]])


def test_tokenizer_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer"):
        TokenizersTokenizer(tmp_path / "nope.json")
