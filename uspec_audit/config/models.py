"""pydantic models of the audit file.

Unknown keys are errors everywhere (``extra="forbid"``). The JSON Schema of
:class:`Audit` is ``schemas/audit.schema.json`` (``uspec-audit schema``).
Names of registered components (loaders, sources, kinds, metrics,
perturbations, suites) are checked against the plugin registry in
:mod:`uspec_audit.validation`, after this structural validation.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from uspec_audit.config.analysis import AnalysisSettings

DEFAULT_METRICS = {
    "multiclass": ["accuracy", "auc", "nll", "brier", "ece"],
    "binary": ["accuracy", "auc", "norm_pr_auc", "nll", "brier", "ece"],
    "regression": ["mse", "nmse"],
}  # a test without `metrics` computes its ensemble's task's defaults

MAX_NAME = 64  # names become folder names (results, predictions partitions): short, and no control characters


def _check_names(kind: str, names) -> None:
    for name in names:
        if len(name) > MAX_NAME or not name or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
            shown = repr(name[:40] + ("..." if len(name) > 40 else ""))
            raise ValueError(
                f"{kind} name {shown} ({len(name)} characters) must have 1 to {MAX_NAME} characters "
                f"and no control characters"
            )


# The reports `uspec-audit run` writes by default ([audit] reports).
ReportFormat = Literal["html", "pdf", "markdown"]
DEFAULT_REPORTS: tuple[ReportFormat, ...] = ("html", "markdown")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuditMeta(Strict):
    """The ``[audit]`` table."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        max_length=MAX_NAME,
        description="Short identifier of the audit.",
    )
    title: str = Field("", description="Human-readable title shown in reports.")
    description: str = Field("", description="Free text: what is audited and why.")
    seed: int = Field(
        0, ge=0, description="Every random draw (perturbations, bootstrap, permutations) derives from it."
    )
    output: str = Field(
        "", description="Results folder, relative to the audit file (default results/<name>)."
    )
    batch_size: int = Field(
        64, ge=1, le=65536, description="Examples per batch streamed through every member."
    )
    reports: list[Literal["html", "pdf", "markdown"]] = Field(
        default_factory=lambda: list(DEFAULT_REPORTS),
        description="Reports `uspec-audit run` writes next to the tables (the PDF needs the `pdf` extra).",
    )


class Preprocess(Strict):
    """How raw inputs become model inputs: x' = (x / scale - mean) / std, then the layout."""

    layout: Literal["auto", "NCHW", "NHWC", "NC", "none"] = Field(
        "auto",
        description="auto: the only reading of the data that fits the model's declared input (as is, transposed "
        "HWC to CHW, or flattened); NCHW transposes raw HWC images, NC flattens, NHWC/none pass as is.",
    )
    scale: float = Field(1.0, gt=0, description="Divide raw values by this first (255.0 for uint8 images).")
    mean: list[float] | float | None = Field(
        None, description="Subtracted after scaling (per channel or scalar)."
    )
    std: list[float] | float | None = Field(None, description="Divides after subtracting the mean.")
    dtype: Literal["float32", "float64", "float16", "int64", "int32", "uint8"] = Field(
        "float32", description="Model input dtype."
    )


class MemberEntry(Strict):
    """One member given as a table, optionally with attributes."""

    path: str = Field(description="Model file, relative to the audit file.")
    name: str | None = Field(None, description="Member name (default: file stem).")
    group: str | None = Field(None, description="Group for nested-seed analysis (e.g. the pretraining seed).")
    attributes: dict[str, str | int | float] = Field(
        default_factory=dict, description="Free member attributes."
    )


class TokenizerRef(Strict):
    """Text models: the registered tokenizer that turns strings into the model's integer inputs."""

    name: str = Field("tokenizers", description="Registered tokenizer (built in: tokenizers).")
    path: str | None = Field(None, description="Tokenizer file (tokenizer.json), relative to the audit file.")
    max_length: int = Field(128, ge=1, description="Truncate and pad to this many tokens.")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of the tokenizer, validated by its own model (see its schema).",
    )


class Ensemble(Strict):
    """An ``[ensembles.NAME]`` table: models that differ only by an arbitrary choice."""

    loader: str = Field("onnx", description="Registered loader name (onnx, torch, or a plugin's).")
    members: str | list[str] | None = Field(None, description="A glob or a list of model files.")
    member: list[MemberEntry] | None = Field(
        None, description="Members as tables ([[ensembles.NAME.member]])."
    )
    task: Literal["multiclass", "binary", "regression"] = Field(description="Prediction task.")
    output: Literal["logits", "probabilities", "scores"] = Field(
        "logits", description="What the model outputs."
    )
    num_classes: int | None = Field(
        None, ge=2, description="Number of classes (default: from the model output)."
    )
    preprocess: Preprocess = Field(default_factory=Preprocess)
    tokenizer: TokenizerRef | None = Field(None, description="Text models: tokenize string inputs first.")
    input_name: str | None = Field(None, description="Model input to feed (default: the model's only input).")
    output_index: int = Field(0, ge=0, description="Which model output holds the predictions.")
    reference: str | None = Field(
        None, description="Name of the iid reference test (default: the first iid test)."
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of the loader, validated by its own model, e.g. factory = 'pkg.mod:fn' or "
        "allow_pickle = true for the torch loader.",
    )

    @model_validator(mode="after")
    def _members_given_once(self) -> Ensemble:
        if (self.members is None) == (self.member is None):
            raise ValueError(
                "give the members either as `members` (glob or list) or as [[member]] tables, exactly one"
            )
        return self


class Dataset(Strict):
    """A ``[datasets.NAME]`` table."""

    source: str = Field(description="Registered dataset source: parquet, npz, images, or a plugin's.")
    path: str = Field(description="File (or folder for `images`), relative to the audit file.")
    input: str = Field("image", description="Column/key holding the model input.")
    target: str = Field("label", description="Column/key holding the label or regression target.")
    id: str | None = Field(None, description="Column/key holding stable example ids (default: row number).")
    attributes: list[str] = Field(default_factory=list, description="Columns kept as example attributes.")
    shape: list[int] | None = Field(
        None, description="Shape of one example for list columns (e.g. [64, 64, 3])."
    )
    table: str | None = Field(
        None, description="`images` source: CSV/Parquet table of paths, labels, attributes."
    )
    path_column: str = Field("path", description="`images` source: the table column holding file paths.")
    features: list[str] | None = Field(
        None, description="Tabular data: feature columns forming the input vector (instead of `input`)."
    )
    limit: int | None = Field(
        None, ge=1, description="Use only the first N examples (quick audits, smoke tests)."
    )
    synthetic: bool = Field(False, description="Generated data: said so in every report.")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of the dataset source, validated by its own model (see its schema).",
    )


class PerturbationRef(Strict):
    """One perturbation of a perturbed or contrastive test."""

    name: str = Field(description="Registered perturbation name.")
    severities: list[int] | None = Field(
        None, description="Severities to run (default: all the perturbation has)."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Perturbation parameters (its own schema)."
    )


class Contract(Strict):
    """Bounds that must hold; each violated bound is a FAIL and exit code 1."""

    max_sd_ratio: float | None = Field(
        None, gt=0, description="Upper bound on sd(test)/sd(iid) of every metric."
    )
    min_mean: dict[str, float] = Field(
        default_factory=dict, description="Lower bound on the ensemble mean, per metric."
    )
    max_mean: dict[str, float] = Field(
        default_factory=dict, description="Upper bound on the ensemble mean, per metric."
    )
    max_sd: dict[str, float] = Field(
        default_factory=dict, description="Upper bound on the across-member sd, per metric."
    )
    min_worst: dict[str, float] = Field(
        default_factory=dict,
        description="Bound on the worst member (lowest if higher is better, else highest).",
    )
    max_flip_rate: float | None = Field(
        None, ge=0, le=1, description="Contrastive tests: bound on every member's flip rate."
    )
    strata: Literal["each", "all"] = Field(
        "each", description="Check each stratum/variant (each) or only the whole test (all)."
    )


class StressTest(BaseModel):
    """One ``[[tests]]`` entry: the keys every test has.

    The keys of its kind (``by`` of a stratified test, ``perturbations`` of a perturbed one, a plugin
    kind's own) are validated by the kind's ``params`` model when the audit is checked against the
    registry (:mod:`uspec_audit.validation`); until then they wait in ``model_extra``.
    """

    model_config = ConfigDict(extra="allow")

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=MAX_NAME, description="Unique test name."
    )
    kind: str = Field(description="iid | stratified | shifted | perturbed | contrastive, or a plugin kind.")
    dataset: str = Field(description="A key of [datasets].")
    ensembles: list[str] | None = Field(None, description="Ensembles to run (default: all).")
    metrics: list[str] | None = Field(None, description="Metrics (default: by task).")
    contract: Contract | None = Field(None, description="Bounds checked after the run.")

    @property
    def kind_keys(self) -> dict[str, Any]:
        """The keys of the test table beyond the common ones: its kind's parameters."""
        return dict(self.model_extra or {})


class Execution(Strict):
    """The ``[execution]`` table: where the members run (``--executor``/``--address`` override it)."""

    executor: Literal["local", "ray"] = Field(
        "local",
        description="local: in this process. ray: actors on a Ray cluster (pip install 'uspec-audit[ray]').",
    )
    address: str | None = Field(
        None,
        description="ray: an existing cluster (host:port, ray://host:10001 or auto); default: start a local one.",
    )
    actors: int | None = Field(
        None,
        ge=1,
        description="ray: member actors (default: one per GPU, else one per CPU; at most one per member).",
    )
    num_cpus: float = Field(
        1.0, gt=0, description="ray: CPUs each member actor reserves (its onnxruntime threads)."
    )
    num_gpus: float | None = Field(
        None,
        ge=0,
        description="ray: GPUs each member actor reserves (default: 1 when the cluster has GPUs, else 0).",
    )
    data: Literal["driver-node", "shared"] = Field(
        "driver-node",
        description="ray: where batches are read and perturbed: on the driver's node (its files), or "
        "on any node (the datasets at the same path everywhere; verified by hash).",
    )
    groups_in_flight: int | None = Field(
        None,
        ge=1,
        description="ray: (dataset, variant) streams produced at once (default: half the driver node's CPUs, "
        "at least 2).",
    )
    producer_cpus: float = Field(
        0.0,
        ge=0,
        description="ray: CPUs each stream's producer task reserves (0: it shares the cores, like the "
        "local executor's prefetch thread; 1 on GPU clusters keeps decoding off the actors' cores).",
    )
    object_store_mb: int | None = Field(
        None, ge=64, description="ray: object store size of a local cluster this run starts (default: Ray's)."
    )
    connect_timeout_s: float = Field(
        60.0, gt=0, description="ray: give up connecting to the cluster after this long."
    )
    resource_timeout_s: float = Field(
        120.0, gt=0, description="ray: give up when the cluster cannot place the actors within this long."
    )
    batch_timeout_s: float = Field(
        900.0,
        gt=0,
        description="ray: give up when no batch result arrives within this long (a stuck cluster).",
    )
    max_retries: int = Field(3, ge=0, description="ray: restarts of a killed actor and retries of its work.")


class Audit(Strict):
    """An audit file."""

    model_config = ConfigDict(extra="forbid", title="uspec-audit audit file")

    schema_: str | None = Field(
        None, alias="$schema", description="Optional JSON Schema reference for editors."
    )
    audit: AuditMeta
    ensembles: dict[str, Ensemble] = Field(min_length=1)
    datasets: dict[str, Dataset] = Field(min_length=1)
    tests: list[StressTest] = Field(min_length=1)
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    execution: Execution = Field(default_factory=Execution)

    @field_validator("ensembles", "datasets")
    @classmethod
    def _short_names(cls, value: dict, info) -> dict:
        _check_names(info.field_name[:-1], value)
        return value
