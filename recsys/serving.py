"""The registered recommender: a :class:`~recsys.model.TwoStageModel` at the end of the log, behind raw ids.

:class:`Recommender` holds the two-stage model the flow's ``final`` step trained (sources fitted at the end of the
log, the feature recipe, the reranker, the buyer model, the validated strategy), the user pool and the id maps.
It adds only what a server needs: raw ids in and out, a popularity fallback for unknown users, request checks.
Lists and the submission come from the model's own :meth:`~recsys.model.TwoStageModel.predict`, the recipe the
flow used, so a submitted user gets exactly their submission list.

:class:`RecommenderModel` wraps it as an MLflow pyfunc model (``mlflow models serve``): the input is a column of
``user_id`` strings, the optional parameter ``k``; the output has one row per (user, rank).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from recsys.candidates import pad
from recsys.dataset import Catalog, Dataset
from recsys.model import TwoStageModel, recs_for
from recsys.schema import DEFAULT_K
from recsys.schema import Columns as C

#: Largest ``k`` a request may ask for (candidates per source cap what the reranker can rank anyway).
MAX_K = 100
#: Largest number of users in one request; bigger batches go through ``python -m recsys batch``.
MAX_USERS_PER_REQUEST = 10_000
#: Longest user id a request may carry (real ids are 36-character UUIDs).
MAX_ID_LENGTH = 200
#: Values of the ``source`` output column.
FROM_MODEL = "reranker"
FROM_PADDING = "popular_padding"  # a known user's list completed with popular items
FROM_FALLBACK = "popular_fallback"  # an unknown user: popular items only
#: The columns of :meth:`Recommender.recommend`.
OUTPUT_COLUMNS = [C.USER_ID, C.RANK, C.PRODUCT_ID, C.SCORE, C.P_BUY, C.SOURCE]
#: Request parameters the model accepts.
PARAMS = ("k",)


class RequestError(ValueError):
    """A request the model cannot answer as asked (the server turns it into a 400 with this message)."""


class Recommender:
    """A trained :class:`TwoStageModel` at the end of a log, its user pool and the raw id maps."""

    def __init__(
        self, model: TwoStageModel, pool: np.ndarray, user_ids, product_ids, k: int = DEFAULT_K, top_users: int = 3000
    ):
        self.model = model
        self.pool = np.asarray(pool)
        self.user_ids = np.asarray(user_ids).astype(str)
        self.product_ids = np.asarray(product_ids).astype(str)
        self.k, self.top_users = k, top_users
        self._user_codes: dict | None = None

    @classmethod
    def from_catalog(
        cls, catalog: Catalog, model: TwoStageModel, pool: np.ndarray, k: int = DEFAULT_K, top_users: int = 3000
    ) -> Recommender:
        return cls(model, pool, catalog.user_ids, catalog.product_ids, k, top_users)

    @property
    def now(self) -> pd.Timestamp:
        return self.model.now

    def refresh(self, ds: Dataset) -> Recommender:
        """The same trained reranker and buyer model over a newer log: the candidate sources are refitted on
        ``ds`` (all of it: the cut is its end), features and popularity recomputed, nothing learned is retrained.

        Category codes are mapped to the ones the reranker learned (by raw ``category_id``; new ones become -1).
        """
        import dataclasses

        from recsys import training
        from recsys.split import FINAL, CutKind, make_cuts, model_history

        items = ds.items.copy()
        learned_items = self.model.recipe.items
        learned = dict(zip(learned_items[C.CATEGORY_ID], learned_items[C.CATEGORY], strict=True))
        items[C.CATEGORY] = items[C.CATEGORY_ID].map(learned).fillna(-1).astype(learned_items[C.CATEGORY].dtype)
        ds = dataclasses.replace(ds, items=items)
        cut = make_cuts(ds.end)[FINAL]
        hist = model_history(ds, cut)
        m = self.model
        sources = training.fit_sources(m.sources, hist, ds.items, ds.vectors, m.reranker.seed)  # the run's seed
        model = TwoStageModel.at_cut(ds, cut, sources, m.stage, m.n_candidates)
        pool = training.user_pools(ds, {FINAL: cut}, len(self.pool), {CutKind.FINAL: m.buyer_model})[FINAL]
        return Recommender.from_catalog(ds.catalog, model, pool, self.k, self.top_users)

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
            pred = self.model.predict(known, k)
            p_buy = pred.p_buy
            lists = dict(tuple(pred.lists.groupby(C.USER, sort=False)))
        padding = self.model.padding
        parts = []
        for raw, code in zip(user_ids, codes, strict=True):
            if code < 0:
                items, scores, source = list(padding[:k]), [np.nan] * k, [FROM_FALLBACK] * k
            else:
                ranked = lists.get(code)
                top = [] if ranked is None else ranked[C.ITEM].tolist()
                probs = [] if ranked is None else list(self.model.reranker.proba(ranked[C.SCORE].to_numpy()))
                items = pad(top, padding, k)
                scores = probs + [np.nan] * (len(items) - len(top))
                source = [FROM_MODEL] * len(top) + [FROM_PADDING] * (len(items) - len(top))
            parts.append(
                pd.DataFrame(
                    {
                        C.USER_ID: raw,
                        C.RANK: np.arange(1, len(items) + 1),
                        C.PRODUCT_ID: self.product_ids[np.asarray(items, dtype=np.int64)],
                        C.SCORE: np.asarray(scores, dtype=float),
                        C.P_BUY: float(p_buy.get(code, np.nan)) if code >= 0 else np.nan,
                        C.SOURCE: source,
                    }
                )
            )
        if not parts:
            return pd.DataFrame({c: [] for c in OUTPUT_COLUMNS})
        return pd.concat(parts, ignore_index=True)[OUTPUT_COLUMNS]

    def submission(self, top_users: int | None = None, k: int | None = None) -> pd.DataFrame:
        """The submission of the final cut: the pool scored, users chosen by the validated strategy."""
        from recsys.submission import build_submission

        top_users = top_users or self.top_users
        k = k or self.k
        pred = self.model.predict(self.pool, k, top_users)
        recs = recs_for(pred.lists, pred.selected[self.model.strategy], self.model.padding, k)
        raw = {self.user_ids[u]: [self.product_ids[i] for i in items] for u, items in recs.items()}
        return build_submission(raw, list(self.product_ids[self.model.padding]), k, top_users)

    # -- persistence ---------------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        self.model._rows_by_user = None
        self._user_codes = None
        with open(path, "wb") as f:
            pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        with open(path, "rb") as f:
            return pickle.load(f)

    def saved(self, path: str | Path) -> SavedRecommender:
        """Save to ``path`` and return what the registry needs of it (:class:`SavedRecommender`)."""
        return SavedRecommender(self.save(path), self.model.reranker, input_example(self))


@dataclass(frozen=True)
class SavedRecommender:
    """A :class:`Recommender` as the registry takes it: its file, its reranker (logged on its own) and the request
    shown as its example. The recommender itself need not stay in memory while MLflow loads the file again to try
    that example (a second 2.3 GB copy at ``full@4``)."""

    path: Path
    reranker: object
    example: tuple


def check_k(k) -> int:
    """``k`` as an int in ``[1, MAX_K]``, or a :class:`RequestError`."""
    if isinstance(k, float) and k.is_integer():
        k = int(k)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= MAX_K:
        raise RequestError(f"k must be an integer between 1 and {MAX_K}, got {_kind(k)}")
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
    bad = [i for i, u in enumerate(ids) if not isinstance(u, str) or not u.strip()]
    if bad:
        raise RequestError(
            f"user ids must be non-empty strings; {len(bad)} are not, the first at position {bad[0]} "
            f"({_kind(ids[bad[0]])})"
        )
    long = [i for i, u in enumerate(ids) if len(u) > MAX_ID_LENGTH]
    if long:
        raise RequestError(
            f"{len(long)} user id(s) longer than {MAX_ID_LENGTH} characters, the first at position {long[0]} "
            f"({len(ids[long[0]]):,} characters)"
        )
    return [str(u) for u in ids]


def _fields(names) -> str:
    names = list(names)
    return f"{len(names)} {'with' if C.USER_ID in names else 'without'} {C.USER_ID!r}"


def _kind(value) -> str:
    """What a refused value is, without echoing it (a reply never carries the caller's input back)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return "an empty string" if not value.strip() else f"a string of {len(value):,} character(s)"
    if isinstance(value, bool | int | float | np.integer | np.floating):
        return f"the number {value}" if len(str(value)) <= 20 else "a number"
    return f"a value of type {type(value).__name__}"


# -- MLflow pyfunc ---------------------------------------------------------------------------------------------

RECOMMENDER_ARTIFACT = "recommender"


class RecommenderModel(PythonModel):
    """MLflow pyfunc wrapper: ``predict(DataFrame with a user_id column, params={"k": 25})``."""

    def load_context(self, context):
        self.recommender = Recommender.load(context.artifacts[RECOMMENDER_ARTIFACT])

    # ``pd.DataFrame`` is a hint MLflow infers no schema from: it neither validates nor coerces the input (a dict
    # or a list from the server arrives as it was sent), so request_user_ids can refuse what is malformed
    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        from mlflow.exceptions import MlflowException

        params = params or {}
        try:
            return json_safe(self.recommender.recommend(request_user_ids(model_input), params.get("k")))
        except RequestError as err:
            raise MlflowException.invalid_parameter_value(str(err)) from None


def json_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing scores as ``None`` instead of NaN, so that the server's JSON has ``null`` (strict parsers refuse
    a bare ``NaN``)."""
    out = frame.copy()
    for name in out.columns[out.isna().any()]:
        out[name] = out[name].astype(object).where(out[name].notna(), None)
    return out


def request_user_ids(model_input) -> list:
    """The user ids of a request, as the server hands it over: ``{"inputs": {"user_id": [...]}}`` gives a dict,
    ``{"inputs": [...]}`` an array, ``dataframe_split`` / ``dataframe_records`` a DataFrame (Python callers may
    pass any of these, or a plain list). Anything else is a :class:`RequestError`."""
    if isinstance(model_input, pd.DataFrame):
        if list(model_input.columns) != [C.USER_ID]:
            raise RequestError(f"the input needs exactly one column {C.USER_ID!r}, got {_fields(model_input.columns)}")
        return model_input[C.USER_ID].tolist()
    if isinstance(model_input, dict):
        if set(model_input) != {C.USER_ID}:
            raise RequestError(f"the input needs exactly one field {C.USER_ID!r}, got {_fields(model_input)}")
        model_input = model_input[C.USER_ID]
    values = np.asarray(model_input, dtype=object) if not isinstance(model_input, str | bytes) else None
    if values is None or values.ndim != 1:
        raise RequestError(f"{C.USER_ID!r} must be a list of strings, got {_kind(model_input)}")
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


def input_example(recommender: Recommender) -> tuple[pd.DataFrame, dict]:
    """A request the registered model shows as its example: a known user and an unknown one, with ``k``."""
    known = [str(recommender.user_ids[recommender.pool[0]])] if len(recommender.pool) else []
    return pd.DataFrame({C.USER_ID: [*known, "an-unknown-user"]}), {"k": 3}


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
