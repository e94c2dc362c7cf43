"""The churn model pipeline, pure functions over arrays and frames-as-columns.

One sklearn Pipeline per model: a ColumnTransformer (numeric columns imputed with the median and
scaled; categorical columns imputed with a constant and one-hot encoded, unknown categories
ignored) in front of either a calibrated HistGradientBoostingClassifier (the model) or a
LogisticRegression (the baseline every model must beat). Models are saved with skops, never
pickle: loading trusts only the types listed in :data:`TRUSTED_TYPES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from skops import io as skio

if TYPE_CHECKING:
    from pathlib import Path

    from numpy.typing import NDArray

Kind = Literal["model", "baseline"]
SEED = 20261204

# Every non-builtin type a saved pipeline holds; skops refuses anything else on load.
TRUSTED_TYPES = [
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.isotonic.IsotonicRegression",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.compose._column_transformer._RemainderColsList",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._data.StandardScaler",
    "numpy.dtype",
    "builtins.slice",
    "collections.OrderedDict",
]


@dataclass(frozen=True, slots=True)
class Metrics:
    """Holdout quality of a fitted model: ranking (ROC AUC, PR AUC), calibration (Brier) and the
    churn rate in the top-scored decile over the base rate (lift)."""

    roc_auc: float
    pr_auc: float
    brier: float
    lift_top_decile: float


def build(numeric: list[int], categorical: list[int], kind: Kind = "model") -> Pipeline:
    """An unfitted pipeline over an object array whose columns ``numeric`` hold numbers (NaN for
    missing) and ``categorical`` hold strings (None for missing)."""
    parts: list[tuple[str, Any, list[int]]] = []
    if numeric:
        num = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
        parts.append(("numeric", num, numeric))
    if categorical:
        cat = Pipeline(
            [
                ("impute", SimpleImputer(strategy="constant", fill_value="(missing)")),
                ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        parts.append(("categorical", cat, categorical))
    columns = ColumnTransformer(parts, remainder="drop")
    clf: Any
    if kind == "baseline":
        clf = LogisticRegression(max_iter=1000)
    else:
        boosted = HistGradientBoostingClassifier(
            max_iter=200, learning_rate=0.05, random_state=SEED
        )
        # Isotonic on 3 folds: the raw boosted scores rank well but are over-confident.
        clf = CalibratedClassifierCV(boosted, method="isotonic", cv=3)
    return Pipeline([("columns", columns), ("classifier", clf)])


def fit(pipeline: Pipeline, x: NDArray[Any], y: NDArray[np.int_]) -> Pipeline:
    """``pipeline`` fitted to rows ``x`` and labels ``y`` (1 = churned)."""
    return pipeline.fit(x, y)


def scores(pipeline: Pipeline, x: NDArray[Any]) -> NDArray[np.float64]:
    """Each row's churn probability under a fitted ``pipeline``."""
    return np.asarray(pipeline.predict_proba(x)[:, 1], dtype=np.float64)


def lift_top_decile(y: NDArray[np.int_], p: NDArray[np.float64]) -> float:
    """Churn rate among the 10 % highest-scored rows over the overall rate (1.0 = no better
    than random; NaN when nobody churned)."""
    base = float(np.mean(y))
    if base == 0.0:
        return float("nan")
    k = max(1, int(np.ceil(len(y) / 10)))
    top = np.argsort(-p, kind="stable")[:k]
    return float(np.mean(y[top])) / base


def evaluate(y: NDArray[np.int_], p: NDArray[np.float64]) -> Metrics:
    """Metrics of probabilities ``p`` against labels ``y`` (both classes must occur)."""
    return Metrics(
        roc_auc=float(roc_auc_score(y, p)),
        pr_auc=float(average_precision_score(y, p)),
        brier=float(brier_score_loss(y, p)),
        lift_top_decile=lift_top_decile(y, p),
    )


def save(pipeline: Pipeline, path: Path) -> None:
    """Write a fitted pipeline to ``path`` in skops format."""
    skio.dump(pipeline, path)


def load(path: Path) -> Pipeline:
    """A pipeline saved by :func:`save`; types outside :data:`TRUSTED_TYPES` are refused."""
    untrusted = [t for t in skio.get_untrusted_types(file=path) if t not in TRUSTED_TYPES]
    if untrusted:
        raise ValueError(f"untrusted types in {path.name}: {', '.join(untrusted)}")
    loaded = skio.load(path, trusted=TRUSTED_TYPES)
    if not isinstance(loaded, Pipeline):
        raise ValueError(f"{path.name} does not hold a pipeline")
    return loaded
