"""uspec_audit.testing: each check passes good components and catches each mistake it promises to catch."""

from __future__ import annotations

import dataclasses
import uuid

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, log_loss

from uspec_audit import (
    BaseDatasetReader,
    Batch,
    DatasetSourceSpec,
    LoaderSpec,
    MetricSpec,
    PerturbationSpec,
)
from uspec_audit.testing import (
    ComponentCheckError,
    TinyAudit,
    check_loader,
    check_metric,
    check_perturbation,
    check_source,
    check_tokenizer,
    mean_absolute_change,
)

IMAGES = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)


def _noise(images, ctx):
    """Seeded per example, scaled by severity: the right way."""
    out = [
        np.clip(image + np.random.default_rng(seed).normal(0, 10 * ctx.severity, image.shape), 0, 255)
        for image, seed in zip(images, ctx.seeds, strict=True)
    ]
    return np.rint(out).astype(np.uint8)


def _spec(apply, severities=(1, 2, 3), modality="image"):
    return PerturbationSpec("kit/p", apply, modality, "test", severities=severities)


def test_a_good_perturbation_passes_and_reports_its_change():
    report = check_perturbation(_spec(_noise), IMAGES)
    values = [report.change[s] for s in (1, 2, 3)]
    assert values == sorted(values) and values[0] > 0
    assert report.change[1] == pytest.approx(mean_absolute_change(IMAGES, _noise(IMAGES, _context(1))))


def _context(severity):
    from uspec_audit import PerturbContext
    from uspec_audit.engine.seeds import example_seeds

    return PerturbContext(
        seeds=example_seeds(0, np.arange(len(IMAGES)), "kit/p", severity), severity=severity
    )


def _global_rng(images, ctx):
    return np.clip(images + np.random.normal(0, 10, images.shape), 0, 255).astype(np.uint8)


def _per_batch_rng(images, ctx):  # seeded, but one generator for the whole batch
    rng = np.random.default_rng(int(ctx.seeds[0]))
    return np.clip(images + rng.normal(0, 10 * ctx.severity, images.shape), 0, 255).astype(np.uint8)


def _batch_mean(images, ctx):  # depends on the other examples
    return np.clip(images - images.mean() * 0.1 * ctx.severity, 0, 255).astype(np.uint8)


def _in_place(images, ctx):
    images //= 2
    return images


def _unit_range(images, ctx):
    return images / 255.0


def _float_unit_range(images, ctx):  # float images in 0..255 come back in 0..1
    return (images / 255.0 * 0.9).astype(images.dtype)


def _crop(images, ctx):
    return images[:, 1:, 1:]


def _ignores_severity(images, ctx):
    return images // 2


def _decreasing(images, ctx):
    return _noise(images, dataclasses.replace(ctx, severity=4 - ctx.severity))


@pytest.mark.parametrize(
    "apply, inputs, expected",
    [
        (_global_rng, IMAGES, "a second call with the same seeds gave other outputs"),
        (_per_batch_rng, IMAGES, "reversing the batch changed the examples' outputs"),
        (_batch_mean, IMAGES, "alone gets other outputs"),
        (_in_place, IMAGES, "modified its inputs in place"),
        (_unit_range, IMAGES, "changed the dtype from uint8 to float64"),
        (_float_unit_range, IMAGES.astype(np.float64), "shrank the values from"),
        (_crop, IMAGES, "changed the shape from [10, 8, 8, 3] to [10, 7, 7, 3]"),
        (_ignores_severity, IMAGES, "does not grow with severity"),
        (
            _decreasing,
            IMAGES,
            "not monotone in severity: the change (mean_absolute_change) falls from severity 1 to 2",
        ),
    ],
)
def test_perturbation_mistakes_are_caught(apply, inputs, expected):
    with pytest.raises(ComponentCheckError) as caught:
        check_perturbation(_spec(apply), inputs.copy())
    assert expected in str(caught.value)


def test_monotone_can_be_waived_and_nan_allowed():
    check_perturbation(_spec(_decreasing), IMAGES, monotone=False)

    def blank_out(rows, ctx):
        out = rows.copy()
        out[:, 0] = np.nan
        return out

    tabular = np.random.default_rng(1).normal(size=(6, 3))
    with pytest.raises(ComponentCheckError, match="turned 6 finite values into NaN"):
        check_perturbation(_spec(blank_out, severities=(), modality="tabular"), tabular)
    check_perturbation(_spec(blank_out, severities=(), modality="tabular"), tabular, allow_nan=True)


def test_text_perturbations_by_name_and_their_mistakes():
    texts = ["The man sleeps in the house.", "A woman reads a book.", "He said she was right."] * 3
    report = check_perturbation("typos", np.array(texts, dtype=object))
    assert 0 < report.change[1] < report.change[5]
    with pytest.raises(ComponentCheckError, match="returned a ndarray for a list input"):
        check_perturbation(
            _spec(lambda t, ctx: np.array(t, dtype=object), severities=(), modality="text"), texts
        )


def test_built_in_metrics_agree_with_scikit_learn():
    rng = np.random.default_rng(3)
    probabilities = rng.dirichlet(np.ones(4), 200)
    target = rng.integers(0, 4, 200)
    check_metric("accuracy", target, probabilities, lambda t, p: accuracy_score(t, p.argmax(1)))
    check_metric("nll", target, probabilities, lambda t, p: log_loss(t, p, labels=range(4)), rtol=1e-7)


def test_metric_mistakes_are_caught():
    target, probabilities = np.array([0, 1, 1, 0]), np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.4, 0.6]])
    wrong = MetricSpec(
        "kit/wrong", lambda t, p, task: float(np.mean(p.argmax(1) == t)) + 0.01, ("binary",), True, ""
    )
    with pytest.raises(ComponentCheckError, match="it gives 0.51, the reference 0.5"):
        check_metric(wrong, target, probabilities, 0.5)
    first = MetricSpec("kit/first", lambda t, p, task: float(p[0, 1]), ("binary",), True, "order dependent")
    with pytest.raises(ComponentCheckError, match="shuffling the examples changes it"):
        check_metric(first, target, probabilities, 0.2)

    def normalizes(t, p, task):
        p /= p.sum()
        return 0.0

    with pytest.raises(ComponentCheckError, match="modified its arguments in place"):
        check_metric(MetricSpec("kit/inplace", normalizes, ("binary",), True, ""), target, probabilities, 0.0)
    with pytest.raises(ComponentCheckError, match="does not declare the task 'regression'"):
        check_metric(wrong, target, probabilities, 0.5, task="regression")


@dataclasses.dataclass(frozen=True)
class _Linear:
    weight: np.ndarray
    fingerprint: str
    providers: tuple = ("numpy",)
    centre: bool = False

    def predict(self, x):
        x = np.asarray(x, np.float64).reshape(len(x), -1)
        return (x - x.mean(0) if self.centre else x) @ self.weight


def _npz_loader(name, centre=False, fingerprint=None):
    def load(request):
        with np.load(request.path) as archive:
            return _Linear(archive["weight"], fingerprint() if fingerprint else "sha-of-file", centre=centre)

    return LoaderSpec(name, load, (".npz",), "test")


def test_loader_checks(tmp_path):
    world = TinyAudit(tmp_path / "world", modality="tabular")
    path = tmp_path / "model.npz"
    np.savez(path, weight=world.weights[0][0])
    member = check_loader(_npz_loader("kit/good"), path, inputs=world.model_inputs())
    assert isinstance(member, _Linear)  # the loader's own (frozen) object
    with pytest.raises(ComponentCheckError, match="two loads of model.npz give different fingerprints"):
        check_loader(_npz_loader("kit/uuid", fingerprint=lambda: uuid.uuid4().hex), path)
    with pytest.raises(ComponentCheckError, match="split in two"):
        check_loader(_npz_loader("kit/centre", centre=True), path, inputs=world.model_inputs())
    with pytest.raises(ComponentCheckError, match="does not end in a suffix it declares"):
        check_loader(_npz_loader("kit/good"), world.members[0])
    with pytest.raises(ComponentCheckError, match="takes no options"):
        check_loader(_npz_loader("kit/good"), path, options={"temperature": 2})
    member = check_loader("onnx", world.members[0], inputs=world.model_inputs())  # a built-in, by name
    assert member.providers == ["CPUExecutionProvider"]


class _Frame(BaseDatasetReader):
    """A reader over an in-memory frame, with switchable mistakes."""

    mistake = ""

    def __init__(self, request):
        super().__init__(request)
        self.frame = pd.read_parquet(self.path)
        self.num_examples = len(self.frame)

    def metadata(self):
        return self.metadata_frame(self.frame, self.frame["id"].to_numpy())

    def iter_batches(self, batch_size):
        size = batch_size * 2 if self.mistake == "oversized" else batch_size
        for start in range(0, self.num_examples, size):
            part = self.frame.iloc[start : start + size]
            ids = part["id"].to_numpy()[::-1] if self.mistake == "order" else part["id"].to_numpy()
            inputs = part[[f"f{i}" for i in range(6)]].to_numpy()
            if self.mistake == "batch-normalized":
                inputs = inputs - inputs.mean(0)
            yield Batch(
                ids=ids,
                inputs=inputs,
                targets=part["label"].to_numpy(),
                attributes={"site": part["site"].to_numpy()},
            )


def _frame_source(mistake=""):
    reader = type("Reader", (_Frame,), {"mistake": mistake})
    return DatasetSourceSpec(f"kit/{mistake or 'good'}", reader, "test")


@pytest.mark.parametrize(
    "mistake, expected",
    [
        ("oversized", "batch size 1: a batch holds 2 examples"),
        ("order", "the batches' ids are not metadata()'s ids in its order"),
        ("batch-normalized", "give different inputs"),
    ],
)
def test_source_mistakes_are_caught(tmp_path, mistake, expected):
    world = TinyAudit(tmp_path / "world", modality="tabular")
    table = {
        "path": str(world.data),
        "features": [f"f{i}" for i in range(6)],
        "target": "label",
        "id": "id",
        "attributes": ["site"],
    }
    check_source(_frame_source(), table)
    with pytest.raises(ComponentCheckError) as caught:
        check_source(_frame_source(mistake), table)
    assert expected in str(caught.value)


def test_source_checks_of_built_ins_and_options(tmp_path):
    world = TinyAudit(tmp_path / "world")
    reader = check_source(
        "parquet",
        {
            "path": "data/test.parquet",
            "input": "image",
            "shape": [8, 8, 3],
            "target": "label",
            "id": "id",
            "attributes": ["site"],
        },
        base_dir=world.root,
    )
    assert reader.num_examples == 60
    with pytest.raises(ComponentCheckError, match="dataset source 'parquet' .* takes no options, got x"):
        check_source("parquet", {"path": str(world.data), "options": {"x": 1}})


def test_tokenizer_check(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {"[PAD]": 0, "[UNK]": 1, "a": 2, "man": 3, "sleeps": 4}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    encoded = check_tokenizer(
        "tokenizers",
        ["a man sleeps", "a woman"],
        path="tokenizer.json",
        base_dir=tmp_path,
        max_length=4,
        options={"padding": "longest"},
    )
    np.testing.assert_array_equal(encoded["input_ids"], [[2, 3, 4], [2, 1, 0]])
    with pytest.raises(ComponentCheckError, match="has no option 'pading'. Did you mean 'padding'"):
        check_tokenizer(
            "tokenizers", ["a"], path="tokenizer.json", base_dir=tmp_path, options={"pading": "longest"}
        )
