"""Submission files in the organisers' format.

A CSV written with ``DataFrame.to_csv(index=False)`` with columns ``user_id,products``, where ``products`` is the
text of a Python list of string product ids: ``"['4811953', '4040418']"``. At most ``top_users`` rows, one per
user, each with exactly ``k`` distinct products (padded from a popularity list when a user has fewer).
"""

from __future__ import annotations

import ast
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from recsys.promotion import lineage_name

if TYPE_CHECKING:  # the model's types only: validating a file needs no model
    from recsys.model import FinalRanking, ModelParts

from recsys.schema import DEFAULT_K, DEFAULT_TOP_USERS, SUBMISSION_COLUMNS

USER_COL, PRODUCTS_COL = SUBMISSION_COLUMNS


class SubmissionError(ValueError):
    """A submission that the competition would reject or score 0."""


def build_submission(
    recs: Mapping[str, Sequence[str]],
    padding: Sequence[str],
    k: int = DEFAULT_K,
    top_users: int = DEFAULT_TOP_USERS,
) -> pd.DataFrame:
    """Submission frame from ``user_id -> ranked product ids`` (raw string ids), in the mapping's order.

    Each list is deduplicated, cut to ``k`` and padded with the first unused ids of ``padding``. Raises when the
    mapping holds more than ``top_users`` users or padding cannot fill a list.
    """
    if len(recs) > top_users:
        raise SubmissionError(f"{len(recs)} users given, the budget is {top_users}")
    rows = []
    for user, items in recs.items():
        chosen = list(dict.fromkeys(str(i) for i in items))[:k]
        if len(chosen) < k:
            seen = set(chosen)
            for item in padding:
                if len(chosen) == k:
                    break
                item = str(item)
                if item not in seen:
                    chosen.append(item)
                    seen.add(item)
        if len(chosen) < k:
            raise SubmissionError(f"user {user!r}: only {len(chosen)} distinct products after padding, need {k}")
        rows.append((str(user), chosen))
    return pd.DataFrame(rows, columns=list(SUBMISSION_COLUMNS))


@dataclass(frozen=True)
class Provenance:
    """Which run wrote a submission file, from which data: kept beside it as ``<file>.json``."""

    run: str
    lineage: str
    fingerprint: str

    @staticmethod
    def path_of(path: str | os.PathLike) -> Path:
        return Path(f"{path}.json")

    @classmethod
    def of(cls, path: str | os.PathLike) -> Provenance | None:
        """The provenance of an existing submission file (None: unknown, e.g. a file written by hand)."""
        try:
            data = json.loads(cls.path_of(path).read_text())
            return cls(str(data["run"]), str(data["lineage"]), str(data["fingerprint"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def place_submission(frame: pd.DataFrame, path, provenance: Provenance) -> tuple[Path, str]:
    """Write a run's (already validated) submission to ``path``, unless ``path`` holds a submission of another
    lineage or of unknown origin: that one is kept and this run's goes beside it as ``<stem>-<lineage><suffix>``.
    Returns where it went and, when it was not ``path``, why."""
    path = Path(path)
    before = Provenance.of(path) if path.exists() else provenance
    note = ""
    if before is None or before.lineage != provenance.lineage:
        kept = f"{path} (written by {before.run}, lineage {before.lineage})" if before else f"{path} (unknown origin)"
        path = path.with_name(f"{path.stem}-{lineage_name(provenance.lineage)}{path.suffix}")
        note = f"kept {kept}: it is not from this data; this run's submission is {path}"
    write_submission(frame, path)
    Provenance.path_of(path).write_text(json.dumps(asdict(provenance), indent=1) + "\n")
    return path, note


def write_submission(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write atomically, products as list text: the whole file goes to a hidden temp file in the same folder,
    reaches the disk (fsync), then replaces ``path`` in one rename.

    ``path`` is therefore either the previous file or the complete new one, never half written. An exception
    removes the temp file; a killed process may leave it (``.<name>.*.tmp``), never a partial ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = frame[list(SUBMISSION_COLUMNS)].copy()
    out[PRODUCTS_COL] = out[PRODUCTS_COL].map(lambda items: str([str(i) for i in items]))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            out.to_csv(fh, index=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it owner-only; a submission is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_submission(path: str | os.PathLike) -> pd.DataFrame:
    """Read a submission CSV back, ``products`` parsed into lists of strings."""
    path = Path(path)
    if not path.is_file():
        raise SubmissionError(f"{path}: no such file")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in SUBMISSION_COLUMNS if c not in frame.columns]
    if missing:
        raise SubmissionError(f"{path}: missing column(s) {missing}; columns are {list(frame.columns)}")

    def parse(text: str, row: int) -> list:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError) as err:
            raise SubmissionError(f"{path}: row {row}: products is not a Python list: {text[:80]!r}") from err
        if not isinstance(value, list):
            raise SubmissionError(f"{path}: row {row}: products is a {type(value).__name__}, not a list")
        return value

    frame[PRODUCTS_COL] = [parse(t, i) for i, t in enumerate(frame[PRODUCTS_COL])]
    return frame


def validate_submission(
    submission: pd.DataFrame | str | os.PathLike,
    catalog_ids: Iterable[str] | None = None,
    k: int = DEFAULT_K,
    top_users: int = DEFAULT_TOP_USERS,
) -> pd.DataFrame:
    """Check a submission (frame or CSV path); return it parsed or raise :class:`SubmissionError`.

    Rules: columns ``user_id,products``; 1 to ``top_users`` rows; distinct non-empty user ids; each ``products``
    a list of exactly ``k`` distinct string ids, all in ``catalog_ids`` when given.
    """
    frame = submission if isinstance(submission, pd.DataFrame) else read_submission(submission)
    where = "submission" if isinstance(submission, pd.DataFrame) else str(submission)
    problems = []
    if len(frame) == 0:
        problems.append("no rows")
    if len(frame) > top_users:
        problems.append(f"{len(frame)} rows, more than the {top_users}-user budget (would score 0)")
    users = frame[USER_COL].astype(str)
    if (users.str.len() == 0).any():
        problems.append("empty user_id")
    dups = users[users.duplicated()].unique()
    if len(dups):
        problems.append(f"{len(dups)} duplicated user_id(s), e.g. {list(dups[:3])}")
    known = set(catalog_ids) if catalog_ids is not None else None
    for row, (user, items) in enumerate(zip(users, frame[PRODUCTS_COL], strict=True)):
        bad = []
        if not all(isinstance(i, str) for i in items):
            bad.append("non-string ids")
        if len(items) != k:
            bad.append(f"{len(items)} products, expected {k}")
        if len(set(items)) != len(items):
            bad.append("duplicated products")
        if known is not None:
            unknown = [i for i in items if i not in known]
            if unknown:
                bad.append(f"unknown products {unknown[:3]}")
        if bad:
            problems.append(f"row {row} (user {user}): " + "; ".join(bad))
        if len(problems) >= 10:
            break
    if problems:
        raise SubmissionError(f"{where}: invalid submission:\n  - " + "\n  - ".join(problems))
    return frame


@dataclass
class FinalResult:
    """The submission of the run's model: its lists (user code -> item codes, chosen users in order), the
    submission frame, and the model's input example (the head of the first shard's table)."""

    recs: dict
    submission: pd.DataFrame
    example: pd.DataFrame


def final_submission(catalog, model: ModelParts, ranking: FinalRanking, k: int, top_users: int) -> FinalResult:
    """The submission of the run's model (``model``: its parts beside the sources, :class:`~recsys.model.ModelParts`;
    the object the run registers and serves is these parts with the branches' sources) from the ``ranking`` of the
    final cut's pool by the model's own second stage (:func:`rank_final`): the model's strategy selects the users,
    the lists are padded with the model's popular items."""
    ranked, own = ranking.stage, model.stage
    if ranked.reranker is not own.reranker or ranked.buyer_model is not own.buyer_model:
        raise ValueError("the final pool was ranked by another second stage than the model's")
    recs = ranking.prediction.recs(own.strategy, model.padding, k)
    padding_ids = catalog.product_ids[model.padding].tolist()
    submission = build_submission(catalog.raw_recs(recs), padding_ids, k, top_users)
    return FinalResult(recs, submission, ranking.example)
