"""Champion gating: a run's model is registered every time, and becomes a champion only by a fair comparison.

Every model belongs to a **lineage**: the data it was trained on, named by the run (``--lineage``; by default
``synthetic-<preset>-seed<seed>`` for the embedded data and the data folder's name for real files). Each lineage has
its own champion alias, ``champion-<lineage>``; models of different lineages never replace each other there.

With ``--promote if-better`` (the default) the new model becomes its lineage's champion when there is none yet, or
when it is at least as good as the current one by a comparison that does not flatter either side:

* **same data** (same fingerprint): the two runs' own validation figures over the windows both scored, buyer by
  buyer (the paired difference of :func:`recsys.metrics.paired_difference`); promoted when it is not negative. The
  champion is never asked about days it may have been trained on: each figure comes from its run's validation,
  where the model saw nothing of the windows.
* **newer data of the same lineage** (another fingerprint): the figures of two logs do not compare, so the new
  model must beat its own best baseline measurably (paired difference above twice its standard error) and by a
  ratio within :data:`LIFT_TOLERANCE` of the champion's on its data.

``--promote always`` promotes without comparing, ``--promote never`` only registers. The serving alias
``champion`` (what ``make serve`` and ``recommend`` load) follows the lineage that holds it: a model takes it when
its own lineage's champion holds it, when nothing holds it, when it moves from embedded synthetic data to real
data, or with ``--promote always``. The decision, its rule and figures are printed, logged on the MLflow run
(``promotion.*`` tags) and shown in the run's report.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field

import pandas as pd

from recsys.metrics import paired_difference

PROMOTE_MODES = ("if-better", "always", "never")
DEFAULT_PROMOTE = "if-better"
#: The serving alias, and the prefix of each lineage's own champion alias.
CHAMPION_ALIAS = "champion"
#: On newer data, the new model's ratio to its own best baseline may be this much (relative) below the champion's.
LIFT_TOLERANCE = 0.10
#: The file of a run's :class:`Standing`, among the MLflow run's artifacts.
STANDING_FILE = "standing.json"


def lineage_name(text: str) -> str:
    """A lineage as MLflow aliases and file names take it: lower-case letters, digits, ``_`` and ``-``."""
    return re.sub(r"[^\w-]+", "-", text.strip().lower()).strip("-")[:80] or "default"


def lineage_alias(lineage: str) -> str:
    """The champion alias of a lineage."""
    return f"{CHAMPION_ALIAS}-{lineage_name(lineage)}"


def default_lineage(data_dir: str, preset: str, seed: int) -> str:
    """The lineage of a run that names none: the data folder's name, or the synthetic preset and seed."""
    if data_dir:
        return lineage_name(data_dir.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1])
    return lineage_name(f"synthetic-{preset}-seed{seed}")


@dataclass
class Standing:
    """What the gate compares of one run's model: its lineage and data, its mean validation recall, its best
    baseline's and the paired difference to it, and the recall of each validation buyer by window (keyed by the
    window's cut time, so that two runs on the same data pair the same windows)."""

    lineage: str
    fingerprint: str
    synthetic: bool
    recall: float
    baseline: float
    lift: tuple[float, float]  # the paired difference to the best baseline, and its standard error
    buyer_recalls: dict[str, pd.Series] = field(default_factory=dict)
    version: str = ""
    run_id: str = ""

    def __post_init__(self) -> None:
        # buyers by their code as text: the same keys whether the recalls come from a run or from its JSON
        self.buyer_recalls = {str(w): s.set_axis(s.index.astype(str)) for w, s in self.buyer_recalls.items()}

    @property
    def ratio(self) -> float:
        return self.recall / self.baseline if self.baseline > 0 else math.nan

    def to_json(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k not in ("buyer_recalls", "version", "run_id")}
        out["buyer_recalls"] = {w: {str(u): float(r) for u, r in s.items()} for w, s in self.buyer_recalls.items()}
        return out

    @classmethod
    def from_json(cls, data: dict, version: str = "", run_id: str = "") -> Standing:
        recalls = {w: pd.Series(r, dtype=float) for w, r in data.get("buyer_recalls", {}).items()}
        fields = {k: data[k] for k in ("lineage", "fingerprint", "synthetic", "recall", "baseline")}
        return cls(**fields, lift=tuple(data["lift"]), buyer_recalls=recalls, version=version, run_id=run_id)


@dataclass
class Promotion:
    """The gate's decision: whether the new version becomes its lineage's champion (``promote``) and the serving
    ``champion`` (``serve``), by which rule, why, and the figures compared."""

    version: str
    lineage: str
    promote: bool
    serve: bool
    rule: str
    reason: str
    serving_reason: str = ""
    figures: dict = field(default_factory=dict)

    @property
    def aliases(self) -> list[str]:
        return [a for a, on in ((lineage_alias(self.lineage), self.promote), (CHAMPION_ALIAS, self.serve)) if on]

    @property
    def summary(self) -> str:
        """One sentence for the report: why, and where ``@champion`` stays when this version does not take it."""
        kept = "" if self.serve or not self.serving_reason else f"; @{CHAMPION_ALIAS} {self.serving_reason}"
        return self.reason + kept

    def lines(self) -> list[str]:
        held = ", ".join(f"@{a}" for a in self.aliases) or "no alias"
        out = [f"Champion: version {self.version} ({self.lineage}) takes {held}: {self.reason}"]
        if self.serving_reason:
            out.append(f"  @{CHAMPION_ALIAS}: {self.serving_reason}")
        return out

    def tags(self) -> dict[str, str]:
        tags = {"promotion.decision": "promoted" if self.promote else "kept", "promotion.rule": self.rule}
        tags["promotion.reason"] = self.reason[:500]
        tags["promotion.serving"] = "moved" if self.serve else "kept"
        tags.update({f"promotion.{k}": f"{v:.6g}" if isinstance(v, float) else str(v) for k, v in self.figures.items()})
        return tags


def decide(new: Standing, champion: Standing | None, mode: str = DEFAULT_PROMOTE) -> tuple[bool, str, str, dict]:
    """Whether ``new`` becomes its lineage's champion over ``champion`` (None: there is none): (promote, rule,
    reason, figures)."""
    if mode not in PROMOTE_MODES:
        raise ValueError(f"--promote must be one of {', '.join(PROMOTE_MODES)}, got {mode!r}")
    if mode == "never":
        return False, "never", "registered only (--promote never)", {}
    if mode == "always":
        return True, "always", "promoted without comparison (--promote always)", {}
    if champion is None:
        return True, "first", f"the first model of lineage {new.lineage}", {}
    if new.fingerprint == champion.fingerprint:
        diff, se = paired_difference(new.buyer_recalls, champion.buyer_recalls)
        if not math.isnan(diff):
            figures = {"difference": diff, "difference_se": se, "champion_version": champion.version}
            verb = "at least as good as" if diff >= 0 else "worse than"
            reason = (
                f"same data: validation recall {new.recall:.4f} vs {champion.recall:.4f} of version "
                f"{champion.version}, {diff:+.4f} ± {se:.4f} buyer by buyer over the same windows: {verb} the champion"
            )
            return diff >= 0, "same data", reason, figures
    return _newer_data(new, champion)


def _newer_data(new: Standing, champion: Standing) -> tuple[bool, str, str, dict]:
    beats = new.lift[0] > 2 * new.lift[1]
    floor = (1 - LIFT_TOLERANCE) * champion.ratio
    comparable = not math.isnan(new.ratio) and (math.isnan(floor) or new.ratio >= floor)
    figures = {"ratio": new.ratio, "champion_ratio": champion.ratio, "champion_version": champion.version}
    reason = (
        f"other data: {new.ratio:.2f} × its best baseline ({new.lift[0]:+.4f} ± {new.lift[1]:.4f} buyer by buyer, "
        f"{'measurably' if beats else 'not measurably'} better), against {champion.ratio:.2f} × for version "
        f"{champion.version} on its data (at least {floor:.2f} × needed)"
    )
    return beats and comparable, "newer data", reason, figures


def serving(new: Standing, promoted: bool, holder: Standing | None, mode: str) -> tuple[bool, str]:
    """Whether the new version also takes the serving ``champion`` alias from its ``holder`` (None: free)."""
    if mode == "always":
        return True, "moved (--promote always)"
    if not promoted:
        return False, "" if holder is None else f"stays on version {holder.version} ({holder.lineage})"
    if holder is None:
        return True, "moved (nothing held it)"
    if holder.lineage == new.lineage:
        return True, f"moved from version {holder.version} (same lineage)"
    if holder.synthetic and not new.synthetic:
        return True, f"moved from version {holder.version} (embedded synthetic data) to real data"
    return False, (
        f"stays on version {holder.version} of lineage {holder.lineage}; serve this model as "
        f"@{lineage_alias(new.lineage)} (or rerun with --promote always)"
    )


def gate(new: Standing, version: str, champions: tuple[Standing | None, Standing | None], mode: str) -> Promotion:
    """The decision for ``version`` of ``new``, given its lineage's champion and the serving alias's holder."""
    promote, rule, reason, figures = decide(new, champions[0], mode)
    serve, serving_reason = serving(new, promote, champions[1], mode)
    return Promotion(version, new.lineage, promote, serve, rule, reason, serving_reason, figures)
