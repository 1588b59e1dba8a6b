"""The steps of a run as plain functions, so that the Metaflow flow stays thin and everything is testable.

A run works on named cuts (see :func:`recsys.split.make_cuts`): ``train``, ``train2``, ... (learning),
``valid`` (model selection and the reported recall) and ``final`` (the submission). For every cut, users are
pooled, every candidate source proposes items from that cut's history, the union gets features and, where the
target window is in the log, labels.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recsys import buyers
from recsys.baselines import BASELINES, pad, user_activity_scores
from recsys.candidates import (
    ALSSource,
    CandidateSource,
    CovisitationSource,
    EmbeddingSource,
    HistorySource,
    PopularitySource,
    popular_items,
)
from recsys.dataset import Dataset
from recsys.features import CUT_ID, add_labels, build_features, merge_candidates, user_features
from recsys.metrics import candidate_recall, diagnostics, recs_from_frame
from recsys.reranker import TrialParams, fit_platt, fit_reranker, learnable_rows, predict, sigmoid, top_k
from recsys.schema import Columns as C
from recsys.split import Cut, history, model_history, target

log = logging.getLogger("recsys.pipeline")

#: The parallel candidate branches of the flow and the sources each one runs.
BRANCHES: dict[str, Callable[[int], list[CandidateSource]]] = {
    "history": lambda seed: [HistorySource()],
    "covisit": lambda seed: [CovisitationSource()],
    "als": lambda seed: [ALSSource(seed=seed)],
    "faiss": lambda seed: [EmbeddingSource()],
    "popularity": lambda seed: [PopularitySource("global"), PopularitySource("category")],
}
RECALL_AT = (25, 50, 100)
#: Users scored per cut, as a multiple of the submission's user budget, when ``--pool-size`` is 0. The buyer
#: model can only choose among these: at the real volume 4x captured 38.5% of the validation buyers against
#: 28.5% for 2x (recall 0.1707 vs 0.1179, README "Results").
POOL_FACTOR = 4


def pool_size(requested: int, top_users: int) -> int:
    """``requested``, or ``POOL_FACTOR * top_users`` when it is 0."""
    return requested or POOL_FACTOR * top_users


def check_parameters(
    top_users: int, k: int, train_cuts: int, pool_size: int, candidates: int, trials: list[TrialParams] = ()
) -> None:
    """Refuse run parameters that cannot give a valid submission, with a message naming the parameter."""
    problems = []
    too_many = [t.label for t in trials if t.train_cuts > train_cuts]
    if too_many:
        problems.append(f"trials {too_many} use more training cuts than --train-cuts {train_cuts}")
    if top_users < 1:
        problems.append(f"--top-users must be at least 1, got {top_users}")
    if k < 1:
        problems.append(f"--k must be at least 1, got {k}")
    if train_cuts < 1:
        problems.append(f"--train-cuts must be at least 1, got {train_cuts}")
    if pool_size < 0:
        problems.append(f"--pool-size must be 0 (automatic) or positive, got {pool_size}")
    elif 0 < pool_size < top_users:
        problems.append(f"--pool-size {pool_size} is smaller than --top-users {top_users}")
    if candidates < 1:
        problems.append(f"--candidates must be at least 1, got {candidates}")
    if problems:
        raise ValueError("invalid parameters: " + "; ".join(problems))


def has_target(ds: Dataset, cut: Cut) -> bool:
    """Whether the cut's whole target window lies inside the log."""
    return cut.target_end <= ds.end


def user_pools(ds: Dataset, cuts: dict[str, Cut], size: int) -> dict[str, np.ndarray]:
    """The users scored at each cut (see :func:`recsys.buyers.user_pool`)."""
    return {name: buyers.user_pool(model_history(ds, cut), size) for name, cut in cuts.items()}


def run_branch(
    branch: str,
    ds: Dataset,
    cuts: dict[str, Cut],
    pools: dict[str, np.ndarray],
    n: int,
    seed: int = 0,
    fitted: dict[str, CandidateSource] | None = None,
) -> tuple[dict[str, dict[str, pd.DataFrame]], dict[str, float]]:
    """Fit the branch's sources on every cut; return ``{source: {cut: candidates}}`` and candidate recall@N.

    Recall is over every buyer of the cut's target window (buyers outside the pool count as 0). When ``fitted``
    is given, it receives the sources fitted on the ``final`` cut by name (the state the served model needs).
    """
    candidates: dict[str, dict[str, pd.DataFrame]] = {}
    metrics: dict[str, float] = {}
    for name, cut in cuts.items():
        hist = model_history(ds, cut)
        for source in BRANCHES[branch](seed):
            started = time.perf_counter()
            cands = source.fit(hist, ds.items, ds.vectors).recommend(pools[name], n)
            candidates.setdefault(source.name, {})[name] = cands
            if fitted is not None and name == "final":
                fitted[source.name] = source
            log.info("%s on %s: %d candidates in %.1fs", source.name, cut, len(cands), time.perf_counter() - started)
            if has_target(ds, cut):
                for at, value in candidate_recall(cands, target(ds.interactions, cut), RECALL_AT).items():
                    metrics[f"{source.name}.{name}.recall_at_{at}"] = value
    return candidates, metrics


def table_artifact(cut_name: str) -> str:
    """The flow artifact holding a cut's feature table (one per cut, so a step loads only what it uses)."""
    return f"table_{cut_name}"


def candidate_features(
    hist: pd.DataFrame,
    items: pd.DataFrame,
    now: pd.Timestamp,
    candidates: dict[str, pd.DataFrame],
    embeddings: EmbeddingSource | None = None,
    item_feats: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Merged candidates with all features; ``embeddings`` (fitted on the same history) gives the similarity
    feature. The one recipe shared by training, validation, the submission and the served model."""
    merged = merge_candidates(candidates)
    user_vectors = item_vectors = None
    if embeddings is not None:
        codes, queries = embeddings.user_queries(merged[C.USER].unique())
        user_vectors, item_vectors = pd.DataFrame(queries, index=codes), embeddings.item_vectors_
    return build_features(hist, items, merged, now, user_vectors, item_vectors, item_feats)


def fit_embeddings(ds: Dataset, hist: pd.DataFrame) -> EmbeddingSource | None:
    """The title-embedding profiles of a history, or None when no item has a vector."""
    if not (ds.items[C.VECTOR_ROW] >= 0).any():
        return None
    return EmbeddingSource().fit(hist, ds.items, ds.vectors)


def cut_table(ds: Dataset, cut: Cut, candidates: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Merged candidates of one cut with all features, and labels when the target window is in the log."""
    hist = model_history(ds, cut)
    table = candidate_features(hist, ds.items, cut.at, candidates, fit_embeddings(ds, hist))
    if has_target(ds, cut):
        table = add_labels(table, target(ds.interactions, cut))
    return table


@dataclass
class BuyerSetup:
    """The buyer model's inputs for one cut: the pool's feature table and, where known, who bought."""

    table: pd.DataFrame
    labels: pd.Series | None = None
    activity: pd.Series = field(default_factory=pd.Series)


def buyer_setup(ds: Dataset, cut: Cut, pool: np.ndarray, table: pd.DataFrame) -> BuyerSetup:
    hist = model_history(ds, cut)
    feats = user_features(hist, cut.at, pool).reindex(pool)
    setup = BuyerSetup(buyers.buyer_table(feats, table), activity=user_activity_scores(hist))
    if has_target(ds, cut):
        setup.labels = buyers.buyer_labels(ds.interactions, cut, pool)
    return setup


def stack(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Rows of several cuts in one table, ``cut_id`` telling them apart (for ranking groups)."""
    return pd.concat([p.assign(**{CUT_ID: i}) for i, p in enumerate(parts)], ignore_index=True)


def fit_buyers(setups: list[BuyerSetup], seed: int = 0):
    """Buyer model on the pools of several labelled cuts."""
    table = pd.concat([s.table for s in setups], ignore_index=True)
    labels = pd.concat([s.labels for s in setups], ignore_index=True)
    return buyers.fit_buyer_model(table, labels, seed=seed)


@dataclass
class Prediction:
    """Item lists and user choice of one cut."""

    lists: pd.DataFrame  # user, item, score, rank (top k of every pool user)
    p_buy: pd.Series
    recall_given_buy: pd.Series
    selected: dict[str, pd.Index]  # strategy -> chosen users, best first


def predict_cut(
    reranker,
    platt: tuple[float, float],
    buyer_model,
    table: pd.DataFrame,
    setup: BuyerSetup,
    k: int,
    top_users: int,
) -> Prediction:
    """Rank every pool user's candidates, estimate who buys, and select users under every strategy."""
    raw = predict(reranker, table)
    lists = top_k(table, raw, k)
    probs = pd.DataFrame({C.USER: table[C.USER].to_numpy(), C.SCORE: sigmoid(platt[0] * raw + platt[1])})
    top_probs = lists[[C.USER]].assign(**{C.SCORE: sigmoid(platt[0] * lists[C.SCORE].to_numpy() + platt[1])})
    recall_given_buy = buyers.expected_recall(top_probs, probs)
    p_buy = buyers.predict_buy(buyer_model, setup.table)
    selected = {
        s: buyers.select_users(p_buy, top_users, s, recall_given_buy=recall_given_buy, activity=setup.activity)
        for s in buyers.STRATEGIES
    }
    return Prediction(lists, p_buy, recall_given_buy, selected)


def recs_for(lists: pd.DataFrame, users: pd.Index, padding: np.ndarray, k: int) -> dict:
    """``user -> k items`` for the chosen users (in their order), padded with popular items."""
    by_user = recs_from_frame(lists[lists[C.USER].isin(users)])
    return {int(u): pad(by_user.get(u, []), padding, k) for u in users}


def train_trial(
    params: TrialParams,
    train_tables: list[pd.DataFrame],
    seed: int = 0,
    threads: int = 2,
):
    """Fit the reranker of a trial on its ``train_cuts`` newest training tables, and its Platt calibration."""
    parts = train_tables[: params.train_cuts]
    train = stack(parts)
    model = fit_reranker(train, params, seed=seed, threads=threads)
    rows = learnable_rows(train)
    platt = fit_platt(predict(model, rows), rows[C.TARGET].to_numpy())
    return model, platt


def evaluate(
    ds: Dataset, cut: Cut, pred: Prediction, padding: np.ndarray, k: int, top_users: int
) -> dict[str, dict[str, float]]:
    """Diagnostics of every selection strategy against the cut's target."""
    truth = target(ds.interactions, cut)
    return {
        s: diagnostics(recs_for(pred.lists, users, padding, k), truth, top_users, k).as_dict()
        for s, users in pred.selected.items()
    }


def source_alone(
    ds: Dataset,
    cut: Cut,
    candidates: pd.DataFrame,
    users: pd.Index,
    k: int,
    top_users: int,
) -> dict[str, float]:
    """A single source's own ranking, for the same chosen users: what the branch is worth alone."""
    padding = popular_items(history(ds.interactions, cut), 2 * k)
    recs = recs_for(candidates, users, padding, k)
    return diagnostics(recs, target(ds.interactions, cut), top_users, k).as_dict()


def drop_source(table: pd.DataFrame, source: str) -> pd.DataFrame:
    """A candidate table as if ``source`` had never run: the rows only it proposed are gone, its score and rank
    features too, and ``n_sources`` counts the remaining sources."""
    score, rank = f"s_{source}_score", f"s_{source}_rank"
    if rank not in table:
        raise ValueError(f"no candidate source {source!r} in the table (no column {rank!r})")
    others = [c for c in table.columns if c.startswith("s_") and c.endswith("_rank") and c != rank]
    kept = table[table[others].notna().any(axis=1)] if others else table.iloc[:0]
    kept = kept.drop(columns=[score, rank])
    kept["n_sources"] = kept[others].notna().sum(axis=1).astype(np.float32)
    return kept.reset_index(drop=True)


def source_removed(
    ds: Dataset,
    cuts: dict[str, Cut],
    pools: dict[str, np.ndarray],
    tables: dict[str, pd.DataFrame],
    train_names: list[str],
    params: TrialParams,
    strategy: str,
    source: str,
    k: int,
    top_users: int,
    seed: int = 0,
) -> dict[str, float]:
    """Ablation: the chosen recipe retrained without one source, scored on the validation cut.

    The source's candidates and features leave every table; the buyer model (whose inputs aggregate the
    candidates) and the reranker are refitted on the training cuts exactly as in the flow, the users are selected
    by ``strategy``, and the lists are scored with the competition metric. Deterministic for a given ``seed``.
    """
    reranker_names = train_names[: params.train_cuts]
    ablated, setups = {}, {}
    for n in [*train_names, "valid"]:  # keep only the ablated tables still needed (memory at the real volume)
        table = drop_source(tables[n], source)
        setups[n] = buyer_setup(ds, cuts[n], pools[n], table)
        if n in reranker_names or n == "valid":
            ablated[n] = table
    buyer_model = fit_buyers([setups[n] for n in train_names], seed)
    model, platt = train_trial(params, [ablated[n] for n in reranker_names], seed)
    pred = predict_cut(model, platt, buyer_model, ablated["valid"], setups["valid"], k, top_users)
    pred.selected = {strategy: pred.selected[strategy]}
    return evaluate(ds, cuts["valid"], pred, valid_padding(ds, cuts["valid"], k), k, top_users)[strategy]


def sources_removed(
    ds: Dataset,
    cuts: dict[str, Cut],
    pools: dict[str, np.ndarray],
    tables: dict[str, pd.DataFrame],
    train_names: list[str],
    params: TrialParams,
    strategy: str,
    sources: list[str],
    k: int,
    top_users: int,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """:func:`source_removed` for every source (sorted). A source whose removal leaves nothing to learn from gets
    NaN diagnostics and a warning instead of stopping the run."""
    results = {}
    for source in sorted(sources):
        started = time.perf_counter()
        try:
            results[source] = source_removed(
                ds, cuts, pools, tables, train_names, params, strategy, source, k, top_users, seed
            )
        except ValueError as err:
            log.warning("without %s: cannot retrain (%s)", source, err)
            results[source] = {"recall": float("nan")}
        log.info("without %s: recall %.4f in %.1fs", source, results[source]["recall"], time.perf_counter() - started)
    return results


def selection_scores(pred: Prediction, setup: BuyerSetup) -> pd.DataFrame:
    """Per pool user: the score of every selection strategy and, where known, whether the user bought (``bought``).

    Small (one row per pool user): enough to draw how many buyers each strategy captures at any budget.
    """
    frame = pd.DataFrame(
        {
            s: buyers.selection_score(pred.p_buy, s, recall_given_buy=pred.recall_given_buy, activity=setup.activity)
            for s in buyers.STRATEGIES
        }
    )
    if setup.labels is not None:
        frame["bought"] = setup.labels.reindex(frame.index).fillna(0).astype(np.int8)
    frame.index.name = C.USER
    return frame.astype({s: np.float64 for s in buyers.STRATEGIES})


def baselines(ds: Dataset, cut: Cut, k: int, top_users: int) -> dict[str, dict[str, float]]:
    """The baselines' diagnostics on a cut."""
    hist = history(ds.interactions, cut)
    truth = target(ds.interactions, cut)
    return {
        name: diagnostics(fn(hist, ds.items, top_users, k), truth, top_users, k).as_dict()
        for name, fn in BASELINES.items()
    }


def valid_padding(ds: Dataset, cut: Cut, k: int) -> np.ndarray:
    """Popular items of a cut's history, to complete short lists."""
    return popular_items(history(ds.interactions, cut), 2 * k)


def trial_table(trials: list[tuple[TrialParams, dict[str, dict[str, float]]]]) -> pd.DataFrame:
    """One row per (trial, selection strategy): the parameters and the validation diagnostics."""
    rows = []
    for i, (params, results) in enumerate(trials):
        for strategy, diag in results.items():
            rows.append({"trial": i, **params.as_dict(), "strategy": strategy, **diag})
    return pd.DataFrame(rows).sort_values(["recall", "trial"], ascending=[False, True], ignore_index=True)


@dataclass
class FinalResult:
    model: object
    recs: dict  # user code -> item codes, chosen users in order
    submission: pd.DataFrame
    feature_importance: pd.Series
    platt: tuple[float, float] = (1.0, 0.0)
    buyer_model: object = None


def final_submission(
    ds: Dataset,
    cuts: dict[str, Cut],
    tables: dict[str, pd.DataFrame],
    setups: dict[str, BuyerSetup],
    params: TrialParams,
    strategy: str,
    k: int,
    top_users: int,
    seed: int = 0,
    buyer_cuts: int = 1,
) -> FinalResult:
    """Retrain the chosen reranker and the buyer model on the newest labelled cuts (validation included) and
    predict the final cut: the same recipe as validated, moved one horizon forward (the reranker on
    ``params.train_cuts`` cuts, the buyer model on ``buyer_cuts``, as many as it had for validation)."""
    from recsys.reranker import feature_importance
    from recsys.submission import build_submission

    labelled = [n for n in cuts if n != "final" and has_target(ds, cuts[n])]  # newest first: valid, train, ...
    model, platt = train_trial(params, [tables[n] for n in labelled[: params.train_cuts]], seed)
    buyer_model = fit_buyers([setups[n] for n in labelled[:buyer_cuts]], seed)
    pred = predict_cut(model, platt, buyer_model, tables["final"], setups["final"], k, top_users)
    recs = recs_for(pred.lists, pred.selected[strategy], valid_padding(ds, cuts["final"], k), k)
    submission = build_submission(ds.raw_recs(recs), ds.padding_ids(k), k, top_users)
    return FinalResult(model, recs, submission, feature_importance(model), platt, buyer_model)


def write_checked_submission(ds: Dataset, submission: pd.DataFrame, path, k: int, top_users: int):
    """Validate against the catalog, then write atomically; returns the path."""
    from recsys.submission import validate_submission, write_submission

    validate_submission(submission, ds.items[C.PRODUCT_ID], k, top_users)
    return write_submission(submission, path)


def truth_file(data_dir) -> pd.DataFrame | None:
    """``<data_dir>/truth/truth.parquet`` when the data ships one (read in ``start``, so that later steps need
    nothing outside the datastore), else None."""
    from pathlib import Path

    from recsys.data import load_truth
    from recsys.schema import TRUTH_FILE

    path = Path(data_dir) / TRUTH_FILE
    return load_truth(path) if path.is_file() else None


def score_truth(ds: Dataset, truth: pd.DataFrame | None, recs: dict, k: int, top_users: int) -> dict[str, float]:
    """Diagnostics against the truth of the days after the log (empty without one)."""
    from recsys.evaluation import score_against_truth

    if truth is None:
        return {}
    return score_against_truth(ds, recs, truth, top_users, k).as_dict()


@dataclass
class RunReport:
    params: dict
    metrics: dict[str, float]
    tables: dict[str, pd.DataFrame]
    plots: dict[str, pd.Series]
    input_example: pd.DataFrame | None


def hypothesis_table(
    valid_results: dict[str, dict[str, float]],
    strategy: str,
    baseline_results: dict[str, dict[str, float]],
    source_alone_results: dict[str, dict[str, float]],
    source_removed_results: dict[str, dict[str, float]] | None = None,
) -> pd.DataFrame:
    """Validation diagnostics of the chosen model next to the baselines, each source alone and, when given, the
    chosen recipe retrained without each source (:func:`sources_removed`)."""
    rows = {f"reranker ({strategy})": valid_results[strategy]}
    rows.update({f"reranker ({s})": r for s, r in valid_results.items() if s != strategy})
    rows.update({f"baseline: {n}": r for n, r in baseline_results.items()})
    rows.update({f"source alone: {n}": r for n, r in source_alone_results.items()})
    rows.update({f"source removed: {n}": r for n, r in (source_removed_results or {}).items()})
    return pd.DataFrame(rows).T


def run_report(
    *,
    params: dict,
    trials: pd.DataFrame,
    hypotheses: pd.DataFrame,
    source_metrics: dict[str, float],
    test_results: dict[str, float],
    importance: pd.Series,
    final_table: pd.DataFrame,
    data_report: dict[str, int] | None = None,
) -> RunReport:
    """What a run logs to MLflow (``data_report``: the loader's cleaning counts, as ``data.<counter>``)."""
    metrics = {f"data.{k}": v for k, v in (data_report or {}).items()}
    metrics.update({f"valid.{k}": v for k, v in hypotheses.iloc[0].items()})
    metrics.update({f"test.{k}": v for k, v in test_results.items()})
    metrics.update({f"source.{k}": v for k, v in source_metrics.items()})
    for row in trials.itertuples():
        metrics[f"trial.{row.trial}.{row.strategy}.recall"] = row.recall
    for name, row in hypotheses.iterrows():
        metrics[f"hypothesis.{name.replace(' ', '_').replace(':', '').replace('(', '').replace(')', '')}.recall"] = row[
            "recall"
        ]
    at = max(RECALL_AT)
    cand_recall = pd.Series(
        {k.split(".")[0]: v for k, v in source_metrics.items() if f".valid.recall_at_{at}" in k}, dtype=float
    )
    features = [c for c in final_table.columns if c not in (C.USER, C.ITEM, C.TARGET)]
    return RunReport(
        params=params,
        metrics=metrics,
        tables={"trials": trials, "hypotheses": hypotheses, "feature_importance": importance.to_frame("importance")},
        plots={"feature_importance_top30": importance.head(30), f"candidate_recall_at_{at}": cand_recall},
        input_example=final_table[features].head(5),
    )
