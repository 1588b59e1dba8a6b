"""CatBoost reranker: learns which candidates a user buys, trained on earlier cuts, scored on the validation cut.

A trial is one set of hyperparameters (:class:`TrialParams`); the flow trains the trials of a search
(:mod:`recsys.search`) in parallel batches and keeps the one with the best mean validation recall.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from recsys.features import CATEGORICAL_FEATURES, feature_columns
from recsys.progress import CatBoostProgress
from recsys.schema import Columns as C

OBJECTIVES = ("YetiRank", "Logloss")


@dataclass(frozen=True)
class TrialParams:
    """One reranker configuration.

    ``train_cuts``: how many stacked training cuts (newest first) it learns from. ``negatives``: the share of
    non-bought candidates kept in each training group (every bought one is kept; 1 keeps all). ``iterations`` is
    an upper bound: training stops once the held-out users' loss has not improved for :data:`EARLY_STOP_ROUNDS`
    rounds, and the best iteration is kept.
    """

    objective: str = "YetiRank"
    depth: int = 6
    learning_rate: float = 0.08
    iterations: int = 300
    l2_leaf_reg: float = 3.0
    train_cuts: int = 1
    negatives: float = 0.1  # with six training cuts: as many rows per fit as 25% of two (docs/results_history.md)

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.depth < 1 or self.iterations < 1 or self.learning_rate <= 0 or self.train_cuts < 1:
            raise ValueError(f"invalid trial parameters: {self}")
        if not 0 < self.negatives <= 1:
            raise ValueError(f"negatives must be a share in (0, 1], got {self.negatives}")

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def label(self) -> str:
        """A name a person reads: ``YetiRank, depth 6, lr 0.08, ≤300 trees, 1 window``."""
        label = (
            f"{self.objective}, depth {self.depth}, lr {self.learning_rate:.2g}, ≤{self.iterations} trees, "
            f"l2 {self.l2_leaf_reg:.2g}, {self.train_cuts} window{'s' if self.train_cuts > 1 else ''}"
        )
        return label + (f", {self.negatives:.0%} negatives" if self.negatives < 1 else "")


#: The trial the search starts from (the best of earlier fixed grids, docs/results.md "Hypotheses"): Optuna proposes the
#: rest. ``train_cuts`` is left out: a grid trial without it learns from every prepared training cut.
DEFAULT_GRID = json.dumps([{"objective": "YetiRank", "depth": 6, "learning_rate": 0.08, "iterations": 300}])


def parse_grid(spec: str, train_cuts: int | None = None) -> list[TrialParams]:
    """Trials from JSON: a dict of lists (their Cartesian product) or a list of dicts (each one trial).

    ``train_cuts``: the value of a trial that does not set its own (the dataclass default otherwise)."""
    try:
        raw = json.loads(spec)
    except json.JSONDecodeError as err:
        raise ValueError(f"trial grid is not valid JSON: {err}: {spec[:200]!r}") from err
    fields = set(TrialParams.__dataclass_fields__)
    if isinstance(raw, dict):
        values = {k: v if isinstance(v, list) else [v] for k, v in raw.items()}
        combos = [dict(zip(values, combo, strict=True)) for combo in itertools.product(*values.values())]
    elif isinstance(raw, list) and all(isinstance(r, dict) for r in raw):
        combos = raw
    else:
        raise ValueError("trial grid must be a JSON object of lists or a list of objects")
    trials = []
    for combo in combos:
        unknown = set(combo) - fields
        if unknown:
            raise ValueError(f"unknown trial parameter(s) {sorted(unknown)}; known: {sorted(fields)}")
        if train_cuts is not None:
            combo = {"train_cuts": train_cuts, **combo}
        trials.append(TrialParams(**combo))
    if not trials:
        raise ValueError("trial grid is empty")
    return list(dict.fromkeys(trials))


def cap_train_cuts(trials: list[TrialParams], n: int) -> list[TrialParams]:
    """``trials`` learning from at most ``n`` training cuts (a log too short for more), duplicates dropped."""
    return list(dict.fromkeys(replace(t, train_cuts=min(t.train_cuts, n)) for t in trials))


def columns(table: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """``table[names]`` without copying: a feature table holds one block per column, and pandas' column
    selection copied every one (2.5x the time of CatBoost's own prediction on a validation table)."""
    return pd.DataFrame({c: table[c] for c in names}, copy=False)


def learnable_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of users with at least one bought candidate (the others carry no ranking signal), sorted by group.

    A group is a user of one cut: with stacked cuts (``cut_id``) the same user forms one group per cut.
    """
    keys = [C.CUT_ID, C.USER] if C.CUT_ID in table else [C.USER]
    positives = table.groupby(keys)[C.TARGET].transform("max") > 0
    return table[positives].sort_values([*keys, C.ITEM], kind="stable")


def stack(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Rows of several cuts in one table, ``cut_id`` telling them apart (for ranking groups)."""
    columns = list(parts[0].columns)
    cols = {c: np.concatenate([p[c].to_numpy() for p in parts]) for c in columns}
    cols[C.CUT_ID] = np.repeat(np.arange(len(parts), dtype=np.int32), [len(p) for p in parts])
    return pd.DataFrame(cols, copy=False)  # tables hold one block per column: no insert into them


def group_ids(rows: pd.DataFrame) -> np.ndarray:
    """One id per ranking group: the user, and the cut when rows of several cuts are stacked."""
    if C.CUT_ID in rows:
        return rows[C.CUT_ID].to_numpy(np.int64) * 10**9 + rows[C.USER].to_numpy(np.int64)
    return rows[C.USER].to_numpy(np.int64)


#: Share of the training groups held out to stop boosting early (at least one group when there are two).
HOLDOUT_SHARE = 0.15
#: Rounds without improvement on the held-out groups before boosting stops.
EARLY_STOP_ROUNDS = 40
#: Permutations YetiRank samples per group and step (CatBoost's default is 10): 3 ranked the grocery dev case's
#: validation buyers' items as well (paired per buyer: +0.0011 ± 0.0010 and +0.0006 ± 0.0011 over two seeds)
#: with a 30% faster fit (docs/results_history.md).
YETIRANK_PERMUTATIONS = 3


def loss_function(objective: str) -> str:
    """CatBoost's ``loss_function`` for a trial's objective."""
    return f"YetiRank:permutations={YETIRANK_PERMUTATIONS}" if objective == "YetiRank" else objective


def split_groups(rows: pd.DataFrame, seed: int, share: float = HOLDOUT_SHARE) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, holdout) over ``rows`` that keep whole groups on one side, seeded."""
    groups = group_ids(rows)
    uniq = np.unique(groups)
    n_out = int(round(share * len(uniq))) if len(uniq) >= 2 else 0
    n_out = min(max(n_out, 1 if len(uniq) >= 2 else 0), len(uniq) - 1) if len(uniq) else 0
    held = np.random.default_rng(seed).choice(uniq, size=n_out, replace=False) if n_out else uniq[:0]
    out = np.isin(groups, held)
    return ~out, out


def sample_negatives(rows: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """Every bought row and a seeded ``share`` of the others, group by group (at least one negative per group
    that has one), order kept."""
    if share >= 1:
        return rows
    rng = np.random.default_rng(seed)
    negative = rows[C.TARGET].to_numpy() == 0
    keep = ~negative | (rng.random(len(rows)) < share)
    # a group keeps at least one negative: the first one, where sampling dropped them all
    groups = group_ids(rows)
    has_kept = pd.Series(keep & negative).groupby(groups).transform("any").to_numpy()
    first_negative = negative & ~pd.Series(negative).groupby(groups).cumsum().gt(1).to_numpy()
    keep |= first_negative & ~has_kept
    return rows[keep]


class Reranker:
    """The second stage: a CatBoost model that ranks a user's candidates, and the Platt calibration that turns its
    scores into P(the user buys the item | the user buys), fitted and used as one object.

    :meth:`fit` learns from the learnable rows (:func:`learnable_rows`) of one or more labelled cut tables:
    a seeded slice of the groups is held out to stop boosting early, negatives are sampled inside the other
    groups (``params.negatives``), and the calibration is fitted on every learnable row.
    """

    def __init__(self, params: TrialParams | None = None, seed: int = 0, threads: int = 2):
        self.params = params or TrialParams()
        self.seed, self.threads = seed, threads
        self.model_ = None
        self.platt_: tuple[float, float] = (1.0, 0.0)
        self.best_iteration_: int | None = None

    def fit(
        self, tables: list[pd.DataFrame], learnable: bool = False, progress: str | None = None, trees: int | None = None
    ) -> Reranker:
        """Fit on labelled tables, newest first (the first ``params.train_cuts`` are used). ``learnable``: the
        tables are already :func:`learnable_rows` (the flow stores those, small, per cut). ``progress``: a label
        for progress lines while the trees grow (none by default). ``trees``: grow exactly this many trees on
        every group, none held out (a refit with the tree count a validated trial's early stopping chose)."""
        from catboost import CatBoost, Pool

        if trees is not None and trees < 1:
            raise ValueError(f"trees must be at least 1, got {trees}")
        parts = tables[: self.params.train_cuts]
        rows = stack(parts) if len(parts) > 1 else parts[0]
        if not learnable:
            rows = learnable_rows(rows)
        elif len(parts) > 1:
            rows = rows.sort_values([C.CUT_ID, C.USER, C.ITEM], kind="stable")
        if rows.empty or rows[C.TARGET].sum() == 0:
            raise ValueError("no bought item among the training candidates: cannot train the reranker")
        features = feature_columns(rows)
        cat = [c for c in CATEGORICAL_FEATURES if c in features]
        if trees:
            fit_mask, holdout_mask = np.ones(len(rows), bool), np.zeros(len(rows), bool)
        else:
            fit_mask, holdout_mask = split_groups(rows, self.seed)
        train = sample_negatives(rows[fit_mask], self.params.negatives, self.seed)

        def pool(frame):
            return Pool(columns(frame, features), label=frame[C.TARGET], group_id=group_ids(frame), cat_features=cat)

        holdout = rows[holdout_mask]
        use_holdout = len(holdout) and holdout[C.TARGET].sum() > 0
        self.model_ = CatBoost(
            {
                "loss_function": loss_function(self.params.objective),
                "depth": self.params.depth,
                "learning_rate": self.params.learning_rate,
                "iterations": trees or self.params.iterations,
                "l2_leaf_reg": self.params.l2_leaf_reg,
                "boosting_type": "Plain",
                "random_seed": self.seed,
                "thread_count": self.threads,
                "verbose": False,
                "allow_writing_files": False,
                **({"od_type": "Iter", "od_wait": EARLY_STOP_ROUNDS, "use_best_model": True} if use_holdout else {}),
            }
        )
        callbacks = [CatBoostProgress(progress, trees or self.params.iterations)] if progress else None
        self.model_.fit(pool(train), eval_set=pool(holdout) if use_holdout else None, callbacks=callbacks)
        self.best_iteration_ = self.model_.get_best_iteration() if use_holdout else self.model_.tree_count_ - 1
        self.platt_ = fit_platt(self.raw(rows), rows[C.TARGET].to_numpy())
        return self

    @property
    def feature_names(self) -> list[str]:
        return list(self.model_.feature_names_)

    def raw(self, table: pd.DataFrame) -> np.ndarray:
        """Raw scores (higher = more likely bought) of candidate rows."""
        return self.model_.predict(columns(table, self.model_.feature_names_), prediction_type="RawFormulaVal")

    def proba(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated P(bought | the user buys) of raw scores."""
        a, b = self.platt_
        return sigmoid(a * np.asarray(raw, dtype=np.float64) + b)

    def fingerprint(self) -> str:
        """A digest of the fitted model (its trees' leaf values, the trees early stopping kept, the calibration):
        equal for equal fits, what tells whether two tasks fitted the same reranker."""
        import hashlib

        digest = hashlib.sha1(np.ascontiguousarray(self.model_.get_leaf_values(), dtype=np.float64).tobytes())
        digest.update(repr((self.best_iteration_, self.platt_)).encode())
        return digest.hexdigest()[:16]

    def feature_importance(self) -> pd.Series:
        """How much each feature moves the predictions (CatBoost's PredictionValuesChange), descending.

        That type needs no data and works for ranking and classification losses alike.
        """
        values = self.model_.get_feature_importance(type="PredictionValuesChange")
        return pd.Series(values, index=self.model_.feature_names_).sort_values(ascending=False)


def fit_platt(scores: np.ndarray, labels: np.ndarray, steps: int = 50) -> tuple[float, float]:
    """``(a, b)`` of ``P(label) = sigmoid(a * score + b)`` by Newton's method on the log-loss.

    The targets are Platt's smoothed ones, ``(n₊ + 1) / (n₊ + 2)`` for the bought rows and ``1 / (n₋ + 2)`` for
    the others: with 0 / 1 targets, scores that separate the rows perfectly (a reranker that learnt its own
    training rows) send ``a`` to infinity and the probabilities to NaN. A step that does not lower the loss is
    halved, so the fit never ends worse than it started.
    """
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    positives = float(y.sum())
    t = np.where(y > 0, (positives + 1) / (positives + 2), 1 / (len(y) - positives + 2))

    def loss(a: float, b: float) -> float:
        z = a * x + b  # log(1 + e^z) - t z, stable for large |z|
        return float(np.sum(np.logaddexp(0.0, z) - t * z))

    a, b = 1.0, float(np.log(t.mean() / (1 - t.mean())))
    current = loss(a, b)
    for _ in range(steps):
        p = sigmoid(a * x + b)
        w = np.maximum(p * (1 - p), 1e-9)
        grad = np.array([np.sum((p - t) * x), np.sum(p - t)])
        hess = np.array([[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]]) + 1e-6 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        while scale > 1e-6:
            candidate = loss(a - scale * step[0], b - scale * step[1])
            if np.isfinite(candidate) and candidate <= current:
                break
            scale /= 2
        else:
            break  # no step lowers the loss: (a, b) is as good as it gets
        a, b, current = a - scale * step[0], b - scale * step[1], candidate
        if np.abs(scale * step).max() < 1e-8:
            break
    return float(a), float(b)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))
