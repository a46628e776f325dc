"""Registration of the built-in metrics through the ``uspec_audit_register_metrics`` hook."""

from __future__ import annotations

from collections.abc import Callable

from uspec_audit.components import MetricSpec
from uspec_audit.metrics import calibration, classification, regression

__all__ = ["BUILTIN_METRICS", "METRIC_NAMES", "register_builtin_metrics"]

_CLASSIFICATION = ("multiclass", "binary")
_REGRESSION = ("regression",)

BUILTIN_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        name="accuracy",
        fn=classification.accuracy,
        tasks=_CLASSIFICATION,
        higher_is_better=True,
        doc="Share of examples whose arg-max class is the true class.",
    ),
    MetricSpec(
        name="top5_accuracy",
        fn=classification.top5_accuracy,
        tasks=_CLASSIFICATION,
        higher_is_better=True,
        doc="Share of examples whose true class is among the 5 most probable; 1.0 when K <= 5.",
    ),
    MetricSpec(
        name="balanced_accuracy",
        fn=classification.balanced_accuracy,
        tasks=_CLASSIFICATION,
        higher_is_better=True,
        doc="Mean per-class recall of the arg-max prediction over the classes present in the target.",
    ),
    MetricSpec(
        name="auc",
        fn=classification.auc,
        tasks=_CLASSIFICATION,
        higher_is_better=True,
        doc=(
            "ROC AUC (Mann–Whitney, ties as halves). Binary: positive-class probability; "
            "multiclass: one-vs-rest macro average over classes with positives and negatives."
        ),
        source="Hanley & McNeil (1982), Radiology 143(1)",
    ),
    MetricSpec(
        name="pr_auc",
        fn=classification.pr_auc,
        tasks=_CLASSIFICATION,
        higher_is_better=True,
        doc="Average precision (area under the PR curve, scikit-learn's step definition); multiclass: OvR macro.",
    ),
    MetricSpec(
        name="norm_pr_auc",
        fn=classification.norm_pr_auc,
        tasks=_CLASSIFICATION,
        higher_is_better=True,
        doc=(
            "Prevalence-normalized PR-AUC (AP - pi) / (1 - pi): 0 = chance, 1 = perfect, comparable "
            "across prevalences. Boyd et al. normalize by the minimum achievable AUCPR; this uses the "
            "chance baseline pi. Multiclass: OvR macro."
        ),
        source=(
            "Boyd, Costa, Davis & Page (2012), Unachievable region in precision-recall space and its "
            "effect on empirical evaluation, ICML"
        ),
    ),
    MetricSpec(
        name="nll",
        fn=classification.nll,
        tasks=_CLASSIFICATION,
        higher_is_better=False,
        doc="Mean negative log-likelihood (nats) of the true class, probabilities clipped at 1e-15.",
    ),
    MetricSpec(
        name="brier",
        fn=classification.brier,
        tasks=_CLASSIFICATION,
        higher_is_better=False,
        doc=(
            "Multiclass Brier score, mean of sum_k (p_k - y_k)^2; for binary the sum runs over both "
            "classes (twice scikit-learn's binary brier_score_loss)."
        ),
        source="Brier (1950), Monthly Weather Review 78(1)",
    ),
    MetricSpec(
        name="ece",
        fn=calibration.ece,
        tasks=_CLASSIFICATION,
        higher_is_better=False,
        doc="Expected calibration error of the top-label confidence, 10 equal-width bins.",
        source="Guo, Pleiss, Sun & Weinberger (2017), On Calibration of Modern Neural Networks, ICML",
    ),
    MetricSpec(
        name="mse",
        fn=regression.mse,
        tasks=_REGRESSION,
        higher_is_better=False,
        doc="Mean squared error.",
    ),
    MetricSpec(
        name="nmse",
        fn=regression.nmse,
        tasks=_REGRESSION,
        higher_is_better=False,
        doc="MSE divided by the target variance (ddof = 0), i.e. 1 - R^2; NaN for a constant target.",
    ),
    MetricSpec(
        name="mae",
        fn=regression.mae,
        tasks=_REGRESSION,
        higher_is_better=False,
        doc="Mean absolute error.",
    ),
)

METRIC_NAMES: tuple[str, ...] = tuple(spec.name for spec in BUILTIN_METRICS)


def register_builtin_metrics(register: Callable[[MetricSpec], object]) -> None:
    """Call ``register(spec)`` once per built-in metric (the body of the metrics hook)."""
    for spec in BUILTIN_METRICS:
        register(spec)
