"""Stokman next-3-days purchase recommender as one Metaflow flow.

    python flows/recsys_flow.py run                       # embedded synthetic dataset (default preset)
    python flows/recsys_flow.py run --data-dir data/      # the real four files
    python flows/recsys_flow.py resume                    # continue the last run after a failure

start -> buyer_model -> (history | covisit | als | faiss | popularity) -> join_candidates -> split_cuts
      -> build_table (foreach cut) -> join_tables -> prepare_trials -> train_trial (foreach trial of the first
      batch) -> tell -> propose -> train_more (foreach trial of Optuna's second batch) -> choose -> final
      -> track -> end

The branches are the ones of ``recsys.candidates.SOURCES`` (a test checks that every branch has its step).

Steps only load inputs, call ``recsys`` and store outputs; the logic lives in the library.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path

from metaflow import FlowSpec, Parameter, card, current, exit_hook, resources, retry, step

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# the exit hook runs in a fresh interpreter that imports it by module path: let that one find recsys too
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)

from recsys import experiment  # noqa: E402
from recsys.buyers import DEFAULT_BUYER_CUTS, SCREEN_FACTOR  # noqa: E402
from recsys.frames import PackedFrame  # noqa: E402
from recsys.progress import Progress, setup_logging  # noqa: E402
from recsys.reranker import DEFAULT_GRID  # noqa: E402
from recsys.schema import DEFAULT_K, DEFAULT_TOP_USERS  # noqa: E402
from recsys.split import cut_names  # noqa: E402

#: Defaults measured to fit the time budget (docs/performance.md) and to give a standard error over windows. One
#: trial (the --grid one): a second, random start-up trial never beat it on the four benchmark cases and cost 8-40 s;
#: --trials 8 or more is a search (README "Hypotheses").
DEFAULT_TRIALS = 1
#: The one item of an empty second batch of trials.
NO_TRIAL = None
#: Six daily training cuts, with 10% of the negatives kept (TrialParams.negatives), rank as well as two with 25% or
#: better (+0.002 to +0.004 validation recall on the four benchmark cases, paired per buyer; measurable on grocery
#: and `full`) in about the same time; the log needs 20 days (README "Results", issue 12, fourth round).
DEFAULT_TRAIN_CUTS = 6
DEFAULT_VALID_WINDOWS = 3

setup_logging()

#: Test hook, to exercise ``resume`` and ``@retry`` (never set it in production): ``<step>`` makes that step's
#: tasks raise, ``<step>:kill`` makes them SIGKILL their own process (a worker dying mid-step, with nothing
#: saved), ``<step>:once`` makes only their first attempt raise (what a retry recovers from).
FAIL_STEP_ENV = "RECSYS_FAIL_STEP"

#: Resources of the heavy steps when they run on remote compute (``--with kubernetes`` or ``--with batch``; they
#: change nothing locally), sized from the peaks measured at the real volume (docs/performance.md: build_table
#: 4.1 GB, train_trial and final 3.1 GB, start 2.7 GB) with ~50% headroom, and the 2 threads each model uses.
HEAVY = {"cpu": 2, "memory": 6_000}
MEDIUM = {"cpu": 2, "memory": 4_500}


def maybe_fail(step_name: str) -> None:
    requested = os.environ.get(FAIL_STEP_ENV, "")
    if requested == f"{step_name}:kill":
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
    if requested == step_name or (requested == f"{step_name}:once" and current.retry_count == 0):
        raise RuntimeError(f"failing step {step_name!r} on purpose ({FAIL_STEP_ENV} is set)")


# a failed run (or resume) ends its MLflow run FAILED with the error, never FINISHED with half the artifacts
@exit_hook(on_error=["recsys.tracking.fail_metaflow_run"])
class RecsysFlow(FlowSpec):
    """Candidates from five parallel branches, a CatBoost reranker picked over a trial grid, buyer selection,
    a validated submission and an MLflow run with the registered model."""

    data_dir = Parameter("data-dir", default="", help="Folder with the four files; empty: embedded synthetic data")
    preset = Parameter("preset", default="default", help="Synthetic preset if no --data-dir: tiny|default|full[@0.25]")
    seed = Parameter("seed", default=0, type=int, help="Seed of the synthetic data and of every model")
    top_users = Parameter("top-users", default=DEFAULT_TOP_USERS, type=int, help="Users in the submission")
    k = Parameter("k", default=DEFAULT_K, type=int, help="Products per user")
    output = Parameter("output", default="submission.csv", help="Where the submission CSV is written")
    trials_n = Parameter(
        "trials",
        default=DEFAULT_TRIALS,
        type=int,
        help="Reranker trials: the --grid ones (alone by default), then Optuna's (TPE, seeded by --seed) in two "
        "parallel batches",
    )
    grid = Parameter(
        "grid", default=DEFAULT_GRID, help="Reranker trials tried first: JSON dict of lists or list of dicts"
    )
    train_cuts = Parameter(
        "train-cuts", default=DEFAULT_TRAIN_CUTS, type=int, help="Daily training cuts before the validation windows"
    )
    buyer_cuts = Parameter(
        "buyer-cuts",
        default=DEFAULT_BUYER_CUTS,
        type=int,
        help="Daily cuts the buyer model learns from (fewer if the log is short: each needs 3 days of history)",
    )
    valid_windows = Parameter(
        "valid-windows",
        default=DEFAULT_VALID_WINDOWS,
        type=int,
        help="Non-overlapping 3-day validation windows: choices and reported recalls are means over them",
    )
    pool_size = Parameter(
        "pool-size",
        default=0,
        type=int,
        help="Users scored per cut (by P(buy) among 4x as many of the most active); 0: 4 x top-users",
    )
    candidates = Parameter("candidates", default=50, type=int, help="Candidates per source and user")
    stitch_identities = Parameter(
        "stitch-identities",
        default=False,
        type=bool,
        help="Give each user_id the history of the user_ids linked to it through shared loc_user_ids",
    )
    ablation = Parameter(
        "ablation",
        default=False,
        type=bool,
        help="Retrain the chosen recipe without each candidate source (the 'source removed' rows; one retraining "
        "per source)",
    )
    plain = Parameter(
        "plain",
        default=True,
        type=bool,
        help="Also score a plain two-stage model in the reranker's place (one more fit, on the newest training "
        "cut): the yardstick of the item lists, the 'plain two-stage' hypothesis",
    )
    tracking_uri = Parameter("tracking-uri", default="", help="MLflow URI; empty: $MLFLOW_TRACKING_URI or sqlite")
    experiment = Parameter("experiment", default="stokman-recsys", help="MLflow experiment")
    model_name = Parameter("model-name", default="stokman-recommender", help="MLflow registered model name")

    @resources(**MEDIUM)
    @step
    def start(self):
        """Check the parameters and the tracking server, load and validate the data, fix the cuts."""
        from recsys.cli import resolve_data_dir
        from recsys.data import check_files, load_dataset
        from recsys.evaluation import truth_file
        from recsys.reranker import cap_train_cuts, parse_grid
        from recsys.split import cut_names, fit_cuts
        from recsys.tracking import data_fingerprint, git_commit, resolve_tracking_uri, set_run_tags, start_flow_run

        self.first_trials = parse_grid(self.grid, train_cuts=self.train_cuts)  # fail fast on a bad grid or parameter
        experiment.check_parameters(
            self.top_users,
            self.k,
            self.train_cuts,
            self.pool_size,
            self.candidates,
            self.first_trials,
            valid_windows=self.valid_windows,
            n_trials=self.trials_n,
            buyer_cuts=self.buyer_cuts,
        )
        self.resolved_data_dir = str(resolve_data_dir(self.data_dir, self.preset, self.seed))
        check_files(self.resolved_data_dir)  # a wrong --data-dir stops here, before an MLflow run is opened
        self.code_version = git_commit(ROOT)
        self.mlflow_uri = resolve_tracking_uri(self.tracking_uri)
        self.mlflow_run_id = start_flow_run(
            tracking_uri=self.mlflow_uri,
            experiment=self.experiment,
            run_name=f"{current.flow_name}/{current.run_id}",
            tags={
                "metaflow_run_id": current.run_id,
                "metaflow_flow": current.flow_name,
                "mlflow.user": current.username,
                "mlflow.source.git.commit": self.code_version,
                "git_commit": self.code_version,
            },
            params={
                "data_dir": self.data_dir or f"synthetic:{self.preset}",
                "top_users": self.top_users,
                "k": self.k,
                "seed": self.seed,
                "train_cuts": self.train_cuts,
                "buyer_cuts": self.buyer_cuts,
                "valid_windows": self.valid_windows,
                "trials": self.trials_n,
                "pool_size": self.pool_size,
                "candidates": self.candidates,
                "grid": self.grid,
                "stitch_identities": self.stitch_identities,
                "ablation": self.ablation,
                "plain": self.plain,
            },
        )
        self.data_fingerprint = data_fingerprint(self.resolved_data_dir)
        set_run_tags(self.mlflow_uri, self.mlflow_run_id, {"data_fingerprint": self.data_fingerprint})
        self.ds = dataclasses.replace(load_dataset(self.resolved_data_dir), stitch_identities=self.stitch_identities)
        self.truth = truth_file(self.resolved_data_dir)  # scored in final; synthetic data ships one
        # a log too short for --train-cuts learns from fewer; too short for one stops here
        self.cuts, note = fit_cuts(self.ds.interactions, self.train_cuts, self.valid_windows)
        self.n_train_cuts = len(cut_names(self.cuts, "train"))
        if note:
            print(note)
            self.first_trials = cap_train_cuts(self.first_trials, self.n_train_cuts)
            set_run_tags(self.mlflow_uri, self.mlflow_run_id, {"train_cuts_used": str(self.n_train_cuts)})
        self.next(self.buyer_model)

    def _load(self, name: str):
        """An artifact of an earlier step, not kept on ``self``: a loaded artifact left on ``self`` is pickled
        again when the step ends (seconds for a feature table); the artifact itself passes on by reference."""
        value = getattr(self, name)
        self.__dict__.pop(name, None)
        return value

    def _release(self, *names: str) -> None:
        """Forget the loaded copies of earlier steps' artifacts this step only read (see :meth:`_load`)."""
        for name in names:
            self.__dict__.pop(name, None)

    def _branch(self, name: str) -> None:
        maybe_fail(name)
        self.branch_sources = {}  # fitted on the final cut: the state the served model needs
        self.branch_candidates, self.branch_metrics = experiment.run_branch(
            name, self.ds, self.cuts, self.pools, self.candidates, self.seed, fitted=self.branch_sources
        )
        self._release("ds", "pools")

    @retry(times=1)
    @resources(**MEDIUM)
    @step
    def buyer_model(self):
        """P(buy) from the users' history alone: one model learnt from daily cuts before the validation windows,
        one from daily cuts up to the end of the log. They choose who gets candidates at the validation windows
        and the final cut: the users of highest P(buy) among the most active (``experiment.user_pools``)."""
        maybe_fail("buyer_model")
        size = experiment.pool_size(self.pool_size, self.top_users)
        self.buyer_models, self.buyer_model_facts = experiment.buyer_models(
            self.ds, self.cuts, self.buyer_cuts, size, self.seed
        )
        for which, facts in self.buyer_model_facts.items():
            print(
                f"buyer model ({which}): {facts['cuts']} daily cuts, {facts['buyers']:,} buyers among "
                f"{facts['users']:,} pool users"
            )
        self.pools = experiment.user_pools(self.ds, self.cuts, size, self.buyer_models)
        training = cut_names(self.cuts, "train")
        for name, cut in self.cuts.items():
            if name in training:
                whom = "buyers scored (only they are learnt from)"
            elif len(self.pools[name]) < size:
                whom = "users scored (every active user)"
            else:
                whom = f"users scored (by P(buy) among up to {SCREEN_FACTOR * size:,} of the most active)"
            print(f"{cut}: {len(self.pools[name]):,} {whom}")
        self.next(self.history, self.covisit, self.als, self.faiss, self.popularity)

    @retry(times=1)
    @resources(**MEDIUM)
    @step
    def history(self):
        """The user's own viewed / liked / basket / ordered items, and those of the users most like them."""
        self._branch("history")
        self.next(self.join_candidates)

    @retry(times=1)
    @resources(**MEDIUM)
    @step
    def covisit(self):
        """Items co-visited with the user's recent items."""
        self._branch("covisit")
        self.next(self.join_candidates)

    @retry(times=1)
    @resources(**MEDIUM)
    @step
    def als(self):
        """implicit ALS on action-weighted confidences."""
        self._branch("als")
        self.next(self.join_candidates)

    @retry(times=1)
    @resources(**MEDIUM)
    @step
    def faiss(self):
        """FAISS neighbours of the user's title-embedding profile."""
        self._branch("faiss")
        self.next(self.join_candidates)

    @retry(times=1)
    @resources(**MEDIUM)
    @step
    def popularity(self):
        """Trending items, overall and in the user's categories."""
        self._branch("popularity")
        self.next(self.join_candidates)

    @step
    def join_candidates(self, inputs):
        """Collect every source's candidates."""
        self.merge_artifacts(inputs, exclude=["branch_candidates", "branch_metrics", "branch_sources"])
        # inputs arrive in completion order: sort so that artifacts do not depend on timing
        collected = {s: c for inp in inputs for s, c in inp.branch_candidates.items()}
        self.source_candidates = {s: collected[s] for s in sorted(collected)}
        self.source_metrics = {m: v for inp in inputs for m, v in inp.branch_metrics.items()}
        fitted = {s: f for inp in inputs for s, f in inp.branch_sources.items()}
        self.final_sources = {s: fitted[s] for s in sorted(fitted)}
        self.next(self.split_cuts)

    @step
    def split_cuts(self):
        """Fan out over the cuts (Metaflow needs a step between a join and a foreach)."""
        self.cut_names = list(self.cuts)
        self.next(self.build_table, foreach="cut_names")

    @retry(times=1)
    @resources(**HEAVY)
    @step
    def build_table(self):
        """Features and labels of one cut, its learnable rows and its buyer-model inputs (cuts in parallel; a
        training cut's feature table holds only its buyers, the only users a reranker learns from)."""
        from recsys.model import cut_data
        from recsys.reranker import learnable_rows

        name = self.input
        learn_only = name in cut_names(self.cuts, "train")  # only learnt from: its buyers' rows are enough
        data = cut_data(
            self.ds,
            self.cuts[name],
            self.pools[name],
            {s: c[name] for s, c in self.source_candidates.items()},
            learn_only=learn_only,
        )
        # one artifact per cut, so that later steps load only the tables they use
        setattr(self, experiment.table_artifact(name), PackedFrame(data.table))  # zstd, not 900 MB through gzip
        if experiment.has_target(self.ds, self.cuts[name]):
            setattr(self, experiment.rows_artifact(name), PackedFrame(learnable_rows(data.table)))
        self.cut_inputs = data.inputs
        whose = "buyers'" if learn_only else "pool's"
        print(f"{name}: {len(data.table):,} candidate rows of {data.table['user'].nunique():,} users (the {whose})")
        self._release("ds", "pools", "source_candidates")
        self.next(self.join_tables)

    @step
    def join_tables(self, inputs):
        """Collect the cut tables (passed on by reference, not loaded) and the buyer-model inputs."""
        self.merge_artifacts(inputs, exclude=["cut_inputs"])
        by_cut = {inp.input: inp for inp in inputs}
        # the windows' and the final cut's (training cuts have none: the buyer model has its own daily cuts)
        self.buyer_inputs = {name: by_cut[name].cut_inputs for name in self.cuts if by_cut[name].cut_inputs}
        self.next(self.prepare_trials)

    @retry(times=1)
    @resources(**MEDIUM)
    @step
    def prepare_trials(self):
        """The baselines on the validation windows, and the first batch of trials (the --grid ones, then Optuna's
        start-up points), one task each (the buyer models come from the buyer_model step)."""
        from recsys.search import Search, rounds

        self.train_names = cut_names(self.cuts, "train")
        self.valid_cuts = {n: self.cuts[n] for n in cut_names(self.cuts, "valid")}
        self.baseline_recalls = {}  # per baseline and window, the recall of each buyer (for paired verdicts)
        self.baseline_results = experiment.baselines(
            self.ds, self.valid_cuts, self.k, self.top_users, per_buyer=self.baseline_recalls
        )
        first, self.second_batch = rounds(self.trials_n, len(self.first_trials))
        self.search = Search(self.seed, self.n_train_cuts, self.first_trials, startup=first)
        self.batch = self.search.ask(first)
        self._release("ds", "buyer_inputs")
        self.next(self.train_trial, foreach="batch")

    def _artifacts(self, kind, names) -> list:
        """The per-cut artifacts (``kind``: ``experiment.table_artifact`` or ``rows_artifact``) of ``names``."""
        return [self._table(kind(n)) for n in names]

    def _table(self, artifact: str):
        """A per-cut table artifact (stored as a ``PackedFrame``) as its DataFrame, not kept on ``self``."""
        return self._load(artifact).frame

    def _trial(self) -> None:
        """One reranker trial: fit on its training cuts, score every validation window with the exact metric."""
        maybe_fail("train_trial")
        number, params = self.input
        self.outcome = experiment.run_trial(
            number,
            params,
            self._artifacts(experiment.rows_artifact, self.train_names[: params.train_cuts]),
            self.ds,
            self.valid_cuts,
            self.buyer_models["valid"],
            lambda name: self._table(experiment.table_artifact(name)),
            self.buyer_inputs,
            self.k,
            self.top_users,
            self.seed,
            progress=True,
        )
        self._release("ds", "buyer_inputs")
        v = self.outcome.validation
        print(
            f"trial {number} ({params.label}): valid recall {v.recall:.4f} ± {v.results[v.strategy]['recall_se']:.4f} "
            f"over {len(self.valid_cuts)} windows ({v.strategy}), {self.outcome.trees} trees"
        )

    def _tell(self, inputs) -> list:
        """A batch's outcomes in proposal order, reported to the study in that order (the next proposals must not
        depend on which task finished first). The placeholder of an empty second batch has none."""
        outcomes = sorted((i.outcome for i in inputs if i.outcome is not None), key=lambda o: o.number)
        for outcome in outcomes:
            self.search.tell(outcome.number, outcome.recall)
        return outcomes

    @retry(times=1)
    @resources(**MEDIUM)
    @step
    def train_trial(self):
        """A trial of the first batch."""
        self._trial()
        self.next(self.tell)

    @step
    def tell(self, inputs):
        """Report the first batch's mean validation recalls to the study."""
        self.merge_artifacts(inputs, exclude=["outcome", "batch"])
        self.outcomes = self._tell(inputs)
        self.next(self.propose)

    @step
    def propose(self):
        """Optuna (TPE) proposes the second batch from the first one's recalls, one task each. Without a search
        (--trials equal to the --grid trials) the batch is one placeholder: a foreach cannot be empty."""
        self.batch = self.search.ask(self.second_batch) or [NO_TRIAL]
        if self.second_batch:
            print("second batch: " + "; ".join(f"trial {n}: {p.label}" for n, p in self.batch))
        else:
            print(f"no second batch: --trials {self.trials_n} runs only the --grid trials")
        self.next(self.train_more, foreach="batch")

    @retry(times=1)
    @resources(**MEDIUM)
    @step
    def train_more(self):
        """A trial of Optuna's second batch (nothing for the placeholder of an empty one)."""
        if self.input is NO_TRIAL:
            self.outcome = None
        else:
            self._trial()
        self.next(self.choose)

    @retry(times=1)
    @resources(**MEDIUM)
    @step
    def choose(self, inputs):
        """Table of every trial; keep the best by mean validation recall; what each source is worth alone and,
        with --ablation, what the best recipe loses when retrained without it (all over the validation windows)."""
        self.merge_artifacts(inputs, exclude=["outcome", "batch"])
        self.outcomes = self.outcomes + self._tell(inputs)
        self.trial_table = experiment.trial_table(self.outcomes)
        best = experiment.best_outcome(self.outcomes)
        self.best_params, self.best_strategy = best.params, best.validation.strategy
        self.valid_results, self.valid_recall = best.validation.results, best.recall
        self.valid_by_window = best.validation.by_window
        self.selection_scores = best.validation.selection_scores
        chosen_users = {w: selected[self.best_strategy] for w, selected in best.validation.selected.items()}
        alone_recalls, removed_recalls = {}, None
        self.source_alone = experiment.sources_alone(
            self.ds,
            self.valid_cuts,
            self.source_candidates,
            chosen_users,
            self.k,
            self.top_users,
            per_buyer=alone_recalls,
        )
        self.source_removed = None  # None: the ablation was skipped (--ablation False)
        self.plain_results, plain_recalls = None, None  # None: not scored (--plain False)
        if self.plain:
            started, plain_recalls = time.perf_counter(), {}
            self.plain_results = experiment.plain_two_stage(
                self.ds,
                self.valid_cuts,
                self._load(experiment.rows_artifact(self.train_names[0])),
                lambda w: self._load(experiment.table_artifact(w)),  # read for the plain columns only
                {n: self.buyer_inputs[n] for n in self.valid_cuts},
                self.buyer_models["valid"],
                self.best_params,
                self.best_strategy,
                self.k,
                self.top_users,
                self.seed,
                per_buyer=plain_recalls,
            )
            plain_recalls = plain_recalls.get(experiment.PLAIN_ROW)
            print(
                f"plain two-stage model in the reranker's place: valid recall {self.plain_results['recall']:.4f} ± "
                f"{self.plain_results.get('recall_se', float('nan')):.4f} ({time.perf_counter() - started:.1f} s)"
            )
        if self.ablation:
            train = self.train_names[: self.best_params.train_cuts]
            inputs_ = experiment.AblationInputs(
                train_rows=self._artifacts(experiment.rows_artifact, train),
                valid_tables={n: self._table(experiment.table_artifact(n)) for n in self.valid_cuts},
                valid_inputs={n: self.buyer_inputs[n] for n in self.valid_cuts},
            )
            removed_recalls = {}
            self.source_removed = experiment.sources_removed(
                self.ds,
                self.valid_cuts,
                inputs_,
                self.buyer_models["valid"],
                self.best_params,
                self.best_strategy,
                list(self.source_candidates),
                self.k,
                self.top_users,
                self.seed,
                progress=Progress("ablation (sources removed)", len(self.source_candidates), every=0).update,
                per_buyer=removed_recalls,
            )
        # the recall of each buyer behind every hypothesis row: the report's verdicts compare rows buyer by buyer
        self.buyer_recalls = experiment.buyer_recall_table(
            best.validation.buyer_recalls,
            self.best_strategy,
            self.baseline_recalls,
            alone_recalls,
            removed_recalls,
            trials=experiment.best_trial_recalls(self.outcomes),
            plain=plain_recalls,
        )
        self._release("ds", "source_candidates", "buyer_inputs")
        from recsys.report import trial_console_table

        print(trial_console_table(self.trial_table))
        print(
            f"best: trial {best.number} ({self.best_params.label}) with {self.best_strategy}: valid recall "
            f"{self.valid_recall:.4f} ± {self.valid_results[self.best_strategy]['recall_se']:.4f} "
            f"(mean ± s.e. over {len(self.valid_cuts)} windows)"
        )
        self.next(self.final)

    @retry(times=1)
    @resources(**MEDIUM)
    @step
    def final(self):
        """Retrain the chosen configuration on the newest cuts, predict the days after the log, write the CSV."""
        from recsys.evaluation import score_truth
        from recsys.split import labelled_names
        from recsys.submission import write_checked_submission

        maybe_fail("final")
        labelled = labelled_names(self.cuts)  # newest first: the reranker learns from the first ones
        table = self._table(experiment.table_artifact("final"))
        result = experiment.final_submission(
            self.ds,
            self.cuts["final"],
            table,
            self.buyer_inputs["final"],
            self._artifacts(experiment.rows_artifact, labelled[: self.best_params.train_cuts]),
            self.buyer_models["final"],
            self.best_params,
            self.best_strategy,
            self.k,
            self.top_users,
            self.seed,
            progress=True,
        )
        self.final_reranker, self.final_buyer_model = result.reranker, result.buyer_model
        self.submission = result.submission
        self.feature_importance = result.feature_importance
        self.final_table_head = table.head(5)  # the model's input example
        self.output_path = str(
            write_checked_submission(
                result.submission, self.ds.items["product_id"], self.output, self.k, self.top_users
            )
        )
        self.test_results = score_truth(self.ds, self.truth, result.recs, self.k, self.top_users)
        print(f"wrote {self.output_path}: {len(self.submission):,} users")
        if self.test_results:
            from recsys.report import truth_sentence

            print(f"against the truth file: {truth_sentence(self.test_results)}")
        self._release("ds", "buyer_inputs")
        self.next(self.track)

    @step
    def track(self):
        """Finish the MLflow run opened at the start: metrics, tables, plots, the submission, the reranker, and the
        whole two-stage model (candidate state, reranker, buyer model) registered as the champion pyfunc model."""
        from recsys.model import TwoStageModel
        from recsys.report import hypothesis_verdicts, verdict_inputs
        from recsys.serving import Recommender
        from recsys.tracking import log_flow_run, run_report

        hypotheses = experiment.hypothesis_table(
            self.valid_results,
            self.best_strategy,
            self.baseline_results,
            self.source_alone,
            self.source_removed,
            self.plain_results,
        )
        self.hypotheses = hypotheses
        report = run_report(
            params={
                "data_path": self.resolved_data_dir,
                "strategy": self.best_strategy,
                **{f"best.{k}": v for k, v in self.best_params.as_dict().items()},
            },
            trials=self.trial_table,
            hypotheses=hypotheses,
            source_metrics=self.source_metrics,
            test_results=self.test_results,
            importance=self.feature_importance,
            final_table=self.final_table_head,
            data_report=self.ds.report,
            verdicts=hypothesis_verdicts(verdict_inputs(self, hypotheses)),
        )
        model = TwoStageModel.at_cut(
            self.ds,
            self.cuts["final"],
            self.final_sources,
            self.final_reranker,
            self.final_buyer_model,
            self.best_strategy,
            self.candidates,
        )
        recommender = Recommender.from_dataset(self.ds, model, self.pools["final"], self.k, self.top_users)
        self.mlflow = log_flow_run(
            tracking_uri=self.mlflow_uri,
            run_id=self.mlflow_run_id,
            tags={"metaflow_run_id": current.run_id},
            params=report.params,
            metrics=report.metrics,
            tables=report.tables,
            plots=report.plots,
            submission=self.submission,
            reranker=self.final_reranker,
            recommender=recommender,
            model_name=self.model_name,
            input_example=report.input_example,
            trials=self.trial_table,
            version_description=(
                f"Metaflow run {current.flow_name}/{current.run_id} on {self.resolved_data_dir} "
                f"(fingerprint {self.data_fingerprint}, code {self.code_version}): validation recall "
                f"{self.valid_recall:.4f} with {self.best_params.label}, users chosen by {self.best_strategy}."
            ),
        )
        self._release("ds", "pools", "final_sources", "final_reranker", "final_buyer_model", "submission")
        self.next(self.end)

    @card(type="blank", id="report", timeout=600)
    @step
    def end(self):
        """Summary and next steps, and the run report as this step's card (``card view <run id>/end``; the same
        content as ``python -m recsys present``)."""
        from recsys import report

        self.report_summary = report.summarize(self, current.run_id, getattr(self, "_graph_info", None))
        current.card.extend(report.card_components(*report.build_slides(self.report_summary)))
        summary = report.console_summary(
            self.report_summary,
            output_path=self.output_path,
            n_users=len(self.submission),
            k=self.k,
            model_name=self.model_name,
            data_dir=self.resolved_data_dir,
            flow_file=report.short_path(__file__),
            python=report.short_path(sys.executable),
        )
        print(summary)


if __name__ == "__main__":
    RecsysFlow()
