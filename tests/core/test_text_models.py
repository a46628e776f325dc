"""Text models end to end: a local tokenizer.json, a tiny ONNX text classifier, text perturbations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from builders import write_audit
from typer.testing import CliRunner

from uspec_audit.cli.app import app

tokenizers = pytest.importorskip("tokenizers", reason="the 'tokenizers' package is not installed")

POSITIVE = ["good", "great", "fine", "lovely", "superb"]
NEGATIVE = ["bad", "awful", "poor", "dire", "grim"]
FILLER = ["the", "movie", "was", "plot", "and", "acting", "really", "quite", "food", "service"]


class BagOfWords(torch.nn.Module):
    def __init__(self, vocab: int, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.embed = torch.nn.Embedding(vocab, 8)
        self.out = torch.nn.Linear(8, 2)

    def forward(self, input_ids, attention_mask):
        mask = attention_mask.unsqueeze(-1).float()
        pooled = (self.embed(input_ids) * mask).sum(1) / mask.sum(1).clamp(min=1)
        return self.out(pooled)


def _sentences(rng, n):
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(0, 2))
        words = list(rng.choice(FILLER, 5)) + [str(rng.choice(POSITIVE if label else NEGATIVE))]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, np.array(labels)


@pytest.fixture(scope="module")
def text_world(tmp_path_factory):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    from uspec_audit.models.tokenizers import TokenizersTokenizer

    root = tmp_path_factory.mktemp("text")
    vocab = {"[PAD]": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate(POSITIVE + NEGATIVE + FILLER)}}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.save(str(root / "tokenizer.json"))
    encode = TokenizersTokenizer(root / "tokenizer.json", max_length=12)
    rng = np.random.default_rng(0)
    train_texts, train_labels = _sentences(rng, 400)
    encoded = encode.encode_batch(train_texts)
    for seed in range(3):
        model = BagOfWords(len(vocab), seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
        ids, mask = torch.from_numpy(encoded["input_ids"]), torch.from_numpy(encoded["attention_mask"])
        for _ in range(60):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(ids, mask), torch.from_numpy(train_labels)).backward()
            optimizer.step()
        torch.onnx.export(
            model.eval(),
            (ids[:1], mask[:1]),
            str(root / f"seed-{seed}.onnx"),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={"input_ids": {0: "n"}, "attention_mask": {0: "n"}},
            dynamo=False,
        )
    texts, labels = _sentences(np.random.default_rng(1), 300)
    pq.write_table(
        pa.table({"text": texts, "label": labels, "length": ["short"] * 150 + ["long"] * 150}),
        root / "test.parquet",
    )
    return root


def test_text_audit_with_tokenizer_and_typos(text_world, tmp_path):
    audit = write_audit(
        tmp_path / "text.toml",
        f"""
        [audit]
        name = "text"
        seed = 3
        output = "{tmp_path / "results"}"

        [ensembles.bow]
        members = "{text_world}/seed-*.onnx"
        task = "binary"
        preprocess = {{ layout = "none" }}
        tokenizer = {{ path = "{text_world / "tokenizer.json"}", max_length = 12 }}

        [datasets.reviews]
        source = "parquet"
        path = "{text_world / "test.parquet"}"
        input = "text"
        attributes = ["length"]

        [[tests]]
        name = "iid"
        kind = "iid"
        dataset = "reviews"
        metrics = ["accuracy", "auc"]

        [[tests]]
        name = "typos"
        kind = "perturbed"
        dataset = "reviews"
        metrics = ["accuracy"]
        perturbations = [{{ name = "typos", severities = [5], params = {{ rate = 0.5 }} }}]

        [[tests]]
        name = "distractor"
        kind = "contrastive"
        dataset = "reviews"
        metrics = ["accuracy"]
        perturbations = [{{ name = "negation_distractor" }}]
        threshold = {{ positive_class = 1, target = "positive_rate", value = 0.5 }}
        """,
    )
    result = CliRunner().invoke(app, ["run", str(audit), "--no-reports", "--json"])
    assert result.exit_code == 0, result.output
    summary = pd.read_parquet(tmp_path / "results" / "summary.parquet")
    accuracy = summary.query("metric == 'accuracy' and stratum == 'all'").set_index(["test", "variant"])[
        "mean"
    ]
    assert accuracy[("iid", "none")] > 0.95  # the keyword models learned the task
    assert accuracy[("typos", "typos@5")] < accuracy[("iid", "none")] - 0.1  # misspelt keywords become [UNK]
    flips = pd.read_parquet(tmp_path / "results" / "flips.parquet")
    assert {"rate", "decision_flips", "threshold"} <= set(flips["kind"])
    assert json.loads(result.output)["contracts"]["checked"] == 0


def test_missing_tokenizer_file_is_an_audit_error(text_world, tmp_path):
    audit = write_audit(
        tmp_path / "bad.toml",
        f"""
        [audit]
        name = "text"
        [ensembles.bow]
        members = "{text_world}/seed-*.onnx"
        task = "binary"
        tokenizer = {{ path = "nowhere/tokenizer.json" }}
        [datasets.reviews]
        source = "parquet"
        path = "{text_world / "test.parquet"}"
        input = "text"
        [[tests]]
        name = "iid"
        kind = "iid"
        dataset = "reviews"
        """,
    )
    result = CliRunner().invoke(app, ["validate", str(audit)])
    assert result.exit_code == 2 and "tokenizer file" in result.output
