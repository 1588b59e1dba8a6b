"""The whole recommender in one object, for inference without retraining and without the training data.

:class:`Recommender` holds what the flow fitted for the final cut (the end of the log): every candidate source's
state, the event history the features read, the item features, the reranker with its Platt calibration, the buyer
model and the chosen user-selection strategy. It recomputes candidates and features for the users asked for with
the same functions as the flow (``recsys.pipeline.candidate_features``, ``predict_cut``), so its lists equal the
flow's for the same users, and :meth:`Recommender.submission` rebuilds the flow's submission.

:class:`RecommenderModel` wraps it as an MLflow pyfunc model (``mlflow models serve``): the input is a column of
``user_id`` strings, the optional parameter ``k``; the output has one row per (user, rank).
"""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from recsys import buyers
from recsys.baselines import pad, user_activity_scores
from recsys.candidates import CandidateSource, EmbeddingSource
from recsys.dataset import Dataset
from recsys.features import item_features, user_features
from recsys.reranker import sigmoid
from recsys.schema import DEFAULT_K, USER_DTYPE
from recsys.schema import Columns as C
from recsys.split import Cut, model_history

#: Largest ``k`` a request may ask for (candidates per source cap what the reranker can rank anyway).
MAX_K = 100
#: Largest number of users in one request; bigger batches go through ``python -m recsys batch``.
MAX_USERS_PER_REQUEST = 10_000
#: Values of the ``source`` output column.
FROM_MODEL = "reranker"
FROM_PADDING = "popular_padding"  # a known user's list completed with popular items
FROM_FALLBACK = "popular_fallback"  # an unknown user: popular items only
#: The columns of :meth:`Recommender.recommend`.
OUTPUT_COLUMNS = [C.USER_ID, C.RANK, C.PRODUCT_ID, C.SCORE, "p_buy", C.SOURCE]
#: The history columns the features and sources read.
HISTORY_COLUMNS = [C.USER, C.ITEM, C.ACTION, C.TS, C.PAGE]


class RequestError(ValueError):
    """A request the model cannot answer as asked (the server turns it into a 400 with this message)."""


@dataclass
class Recommender:
    """Everything needed to recommend at ``now`` (the final cut); build it with :meth:`build`."""

    now: pd.Timestamp
    history: pd.DataFrame
    items: pd.DataFrame
    sources: dict[str, CandidateSource]
    embeddings: EmbeddingSource | None
    reranker: object
    platt: tuple[float, float]
    buyer_model: object
    strategy: str
    pool: np.ndarray
    n_candidates: int
    k: int
    top_users: int
    user_ids: np.ndarray
    product_ids: np.ndarray
    padding: np.ndarray
    item_feats: pd.DataFrame
    activity: pd.Series
    _rows_by_user: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _user_codes: dict | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        ds: Dataset,
        cut: Cut,
        sources: dict[str, CandidateSource],
        reranker,
        platt: tuple[float, float],
        buyer_model,
        strategy: str,
        pool: np.ndarray,
        n_candidates: int,
        k: int = DEFAULT_K,
        top_users: int = 3000,
    ) -> Recommender:
        """From a dataset, the cut the ``sources`` were fitted on, and the trained models."""
        from recsys.pipeline import valid_padding

        hist = model_history(ds, cut)[HISTORY_COLUMNS].reset_index(drop=True)
        embeddings = sources.get("faiss")
        if not isinstance(embeddings, EmbeddingSource):
            from recsys.pipeline import fit_embeddings

            embeddings = fit_embeddings(ds, hist)
        return cls(
            now=cut.at,
            history=hist,
            items=ds.items.drop(columns=[C.TITLE], errors="ignore"),
            sources=dict(sorted(sources.items())),
            embeddings=embeddings,
            reranker=reranker,
            platt=platt,
            buyer_model=buyer_model,
            strategy=strategy,
            pool=np.asarray(pool),
            n_candidates=n_candidates,
            k=k,
            top_users=top_users,
            user_ids=ds.users[C.USER_ID].to_numpy().astype(str),
            product_ids=ds.items[C.PRODUCT_ID].to_numpy().astype(str),
            padding=valid_padding(ds, cut, MAX_K),  # the flow's padding list, longer: k may reach MAX_K
            item_feats=item_features(hist, ds.items, cut.at),
            activity=user_activity_scores(hist),
        )

    def refresh(self, ds: Dataset) -> Recommender:
        """The same trained reranker and buyer model over a newer log: the candidate sources are refitted on
        ``ds`` (all of it: the cut is its end), features and popularity recomputed, nothing learned is retrained.

        Category codes are mapped to the ones the reranker learned (by raw ``category_id``; new ones become -1).
        """
        import copy

        from recsys.buyers import user_pool
        from recsys.split import make_cuts

        items = ds.items.copy()
        learned = dict(zip(self.items[C.CATEGORY_ID], self.items[C.CATEGORY], strict=True))
        items[C.CATEGORY] = items[C.CATEGORY_ID].map(learned).fillna(-1).astype(self.items[C.CATEGORY].dtype)
        ds = dataclasses.replace(ds, items=items)
        cut = make_cuts(ds.end)["final"]
        hist = model_history(ds, cut)
        sources = {name: copy.deepcopy(src).fit(hist, ds.items, ds.vectors) for name, src in self.sources.items()}
        pool = user_pool(hist, len(self.pool))
        return Recommender.build(
            ds, cut, sources, self.reranker, self.platt, self.buyer_model, self.strategy, pool,
            self.n_candidates, self.k, self.top_users,
        )  # fmt: skip

    # -- scoring -------------------------------------------------------------------------------------------------

    def user_history(self, codes: np.ndarray) -> pd.DataFrame:
        """The events of ``codes`` in log order (what every user-side feature reads)."""
        if self._rows_by_user is None:
            order = np.argsort(self.history[C.USER].to_numpy(), kind="stable")
            self._rows_by_user = (order, self.history[C.USER].to_numpy()[order])
        order, sorted_users = self._rows_by_user
        starts = np.searchsorted(sorted_users, codes, side="left")
        ends = np.searchsorted(sorted_users, codes, side="right")
        rows = np.sort(np.concatenate([order[s:e] for s, e in zip(starts, ends, strict=True)] or [np.array([], int)]))
        return self.history.iloc[rows]

    def score(self, codes: np.ndarray, k: int, top_users: int | None = None):
        """``recsys.pipeline.Prediction`` for user codes: their top ``k`` lists, P(buy), the selections."""
        from recsys.pipeline import BuyerSetup, candidate_features, predict_cut

        codes = np.unique(np.asarray(codes, dtype=USER_DTYPE))
        hist = self.user_history(codes)
        candidates = {name: src.recommend(codes, self.n_candidates) for name, src in self.sources.items()}
        table = candidate_features(hist, self.items, self.now, candidates, self.embeddings, self.item_feats)
        feats = user_features(hist, self.now, codes).reindex(codes)
        setup = BuyerSetup(buyers.buyer_table(feats, table), activity=self.activity)
        return predict_cut(self.reranker, self.platt, self.buyer_model, table, setup, k, top_users or len(codes) or 1)

    def codes_of(self, user_ids) -> np.ndarray:
        """User codes of raw ids, -1 for ids never seen in the log."""
        if self._user_codes is None:
            self._user_codes = {u: i for i, u in enumerate(self.user_ids)}
        return np.array([self._user_codes.get(str(u), -1) for u in user_ids], dtype=np.int64)

    def recommend(self, user_ids, k: int | None = None) -> pd.DataFrame:
        """Up to ``k`` products per user, best first: ``user_id, rank, product_id, score, p_buy, source``.

        ``score`` is the calibrated probability that the user buys the product if they buy at all (NaN for
        padding); ``source`` says whether a row comes from the reranker, pads a short list with popular items,
        or is the popularity fallback of a user the log has never seen (``p_buy`` NaN).
        """
        k = check_k(self.k if k is None else k)
        user_ids = check_user_ids(user_ids)
        codes = self.codes_of(user_ids)
        known = codes[codes >= 0]
        lists: dict[int, pd.DataFrame] = {}
        p_buy = pd.Series(dtype=float)
        if len(known):
            pred = self.score(known, k)
            p_buy = pred.p_buy
            lists = dict(tuple(pred.lists.groupby(C.USER, sort=False)))
        a, b = self.platt
        parts = []
        for raw, code in zip(user_ids, codes, strict=True):
            if code < 0:
                items, scores, source = list(self.padding[:k]), [np.nan] * k, [FROM_FALLBACK] * k
            else:
                ranked = lists.get(code)
                top = [] if ranked is None else ranked[C.ITEM].tolist()
                probs = [] if ranked is None else list(sigmoid(a * ranked[C.SCORE].to_numpy() + b))
                items = pad(top, self.padding, k)
                scores = probs + [np.nan] * (len(items) - len(top))
                source = [FROM_MODEL] * len(top) + [FROM_PADDING] * (len(items) - len(top))
            parts.append(
                pd.DataFrame(
                    {
                        C.USER_ID: raw,
                        C.RANK: np.arange(1, len(items) + 1),
                        C.PRODUCT_ID: self.product_ids[np.asarray(items, dtype=np.int64)],
                        C.SCORE: np.asarray(scores, dtype=float),
                        "p_buy": float(p_buy.get(code, np.nan)) if code >= 0 else np.nan,
                        C.SOURCE: source,
                    }
                )
            )
        if not parts:
            return pd.DataFrame({c: [] for c in OUTPUT_COLUMNS})
        return pd.concat(parts, ignore_index=True)[OUTPUT_COLUMNS]

    def submission(self, top_users: int | None = None, k: int | None = None) -> pd.DataFrame:
        """The submission of the final cut: the pool scored, users chosen by the validated strategy."""
        from recsys.pipeline import recs_for
        from recsys.submission import build_submission

        top_users = top_users or self.top_users
        k = k or self.k
        pred = self.score(self.pool, k, top_users)
        recs = recs_for(pred.lists, pred.selected[self.strategy], self.padding, k)
        raw = {self.user_ids[u]: [self.product_ids[i] for i in items] for u, items in recs.items()}
        return build_submission(raw, list(self.product_ids[self.padding]), k, top_users)

    # -- persistence ---------------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        state = {**self.__dict__, "_rows_by_user": None, "_user_codes": None}
        with open(path, "wb") as f:
            pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        with open(path, "rb") as f:
            return cls(**pickle.load(f))


def check_k(k) -> int:
    """``k`` as an int in ``[1, MAX_K]``, or a :class:`RequestError`."""
    if isinstance(k, float) and k.is_integer():
        k = int(k)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= MAX_K:
        raise RequestError(f"k must be an integer between 1 and {MAX_K}, got {k!r}")
    return int(k)


def check_user_ids(user_ids) -> list[str]:
    """A list of user id strings, or a :class:`RequestError` saying what is wrong."""
    if isinstance(user_ids, str | bytes) or not hasattr(user_ids, "__iter__"):
        raise RequestError(f"user ids must be a list of strings, got {type(user_ids).__name__}")
    ids = list(user_ids)
    if len(ids) > MAX_USERS_PER_REQUEST:
        raise RequestError(
            f"{len(ids)} users in one request, the limit is {MAX_USERS_PER_REQUEST}; "
            "split the batch or use `python -m recsys batch`"
        )
    bad = [u for u in ids if not isinstance(u, str) or not u.strip()]
    if bad:
        raise RequestError(f"user ids must be non-empty strings, got {bad[:5]!r}")
    return [str(u) for u in ids]


# -- MLflow pyfunc ---------------------------------------------------------------------------------------------

RECOMMENDER_ARTIFACT = "recommender"


class RecommenderModel(PythonModel):
    """MLflow pyfunc wrapper: ``predict(DataFrame with a user_id column, params={"k": 25})``."""

    def load_context(self, context):
        self.recommender = Recommender.load(context.artifacts[RECOMMENDER_ARTIFACT])

    def predict(self, context, model_input, params=None):
        from mlflow.exceptions import MlflowException

        params = params or {}
        try:
            return self.recommender.recommend(request_user_ids(model_input), params.get("k"))
        except RequestError as err:
            raise MlflowException.invalid_parameter_value(str(err)) from None


def request_user_ids(model_input) -> list:
    """The user ids of a request, as the server hands it over: ``{"inputs": {"user_id": [...]}}`` gives a dict,
    ``{"inputs": [...]}`` an array, ``dataframe_split`` / ``dataframe_records`` a DataFrame (Python callers may
    pass any of these, or a plain list). Anything else is a :class:`RequestError`."""
    if isinstance(model_input, pd.DataFrame):
        if list(model_input.columns) != [C.USER_ID]:
            raise RequestError(f"the input needs exactly one column {C.USER_ID!r}, got {list(model_input.columns)}")
        return model_input[C.USER_ID].tolist()
    if isinstance(model_input, dict):
        if set(model_input) != {C.USER_ID}:
            raise RequestError(f"the input needs exactly one field {C.USER_ID!r}, got {sorted(model_input)}")
        model_input = model_input[C.USER_ID]
    values = np.asarray(model_input, dtype=object) if not isinstance(model_input, str | bytes) else None
    if values is None or values.ndim != 1:
        raise RequestError(f"{C.USER_ID!r} must be a list of strings, got {str(model_input)[:100]!r}")
    return values.tolist()


def signature():
    """Parameter ``k``; output: the columns of :meth:`Recommender.recommend`. No input schema on purpose: MLflow
    would coerce a bare string, numbers and nulls to strings before :func:`request_user_ids` could refuse them."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=None,
        outputs=Schema(
            [
                ColSpec("string", C.USER_ID),
                ColSpec("long", C.RANK),
                ColSpec("string", C.PRODUCT_ID),
                ColSpec("double", C.SCORE),
                ColSpec("double", "p_buy"),
                ColSpec("string", C.SOURCE),
            ]
        ),
        params=ParamSchema([ParamSpec("k", "long", DEFAULT_K)]),
    )


def pip_requirements() -> list[str]:
    """The project's runtime dependencies pinned to the installed versions (no import capture at logging)."""
    from importlib.metadata import PackageNotFoundError, version

    names = ["mlflow", "numpy", "pandas", "pyarrow", "scipy", "implicit", "faiss-cpu", "catboost", "threadpoolctl"]
    out = []
    for name in names:
        try:
            out.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            out.append(name)
    return out


def load(model_uri: str) -> Recommender:
    """The :class:`Recommender` inside a logged pyfunc model (``models:/name@champion``, ``runs:/...``, a path)."""
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(model_uri)
    return model.unwrap_python_model().recommender
