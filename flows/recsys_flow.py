"""Stokman next-3-days purchase recommender as one Metaflow flow.

    python flows/recsys_flow.py run                       # embedded synthetic dataset (default preset)
    python flows/recsys_flow.py run --data-dir data/      # the real four files
    python flows/recsys_flow.py resume                    # continue the last run after a failure

start -> buyer_days (foreach group of daily cuts) -> buyer_model -> plan_fits -> fit_cuts (foreach group of cuts)
      -> (history | covisit | als | faiss | popularity) -> join_branches -> join_candidates -> plan_tables
      -> build_table (foreach cut x user shard) -> join_tables
      -> prepare_trials -> train_trial (foreach trial x group of validation windows of the first batch) -> tell
      -> propose -> train_more (foreach trial x group of windows of Optuna's second batch) -> tell_more -> choose
      -> (weigh | final) -> track -> end

The branches are the ones of ``recsys.candidates.SOURCES`` (a test checks that every branch has its step). Every
step is wiring: it loads its inputs, calls one or two ``recsys`` functions and stores their records; the model is
trained by the functions of ``recsys.training`` that ``TwoStageModel.fit`` calls too.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

from metaflow import FlowSpec, Parameter, card, current, exit_hook, resources, retry, step

# tasks share the cores: OpenMP threads that spin while waiting (FAISS, implicit ALS) slowed each other ~3x
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# ``recsys`` is found beside this file in a remote task (its code package: recsys.packaging) and through the
# project's install (``make setup``) in a checkout; the exit hook's fresh interpreter looks beside this file too
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (os.path.dirname(__file__), os.environ.get("PYTHONPATH"))))
from recsys import hypotheses, pipeline, records, shards, training, trials, validation
from recsys.buyers import DEFAULT_BUYER_CUTS
from recsys.frames import PackedFrame
from recsys.packaging import ShipLibrary
from recsys.progress import setup_logging
from recsys.promotion import DEFAULT_PROMOTE
from recsys.reranker import DEFAULT_GRID
from recsys.schema import DEFAULT_K, DEFAULT_TOP_USERS
from recsys.settings import (
    DEFAULT_CANDIDATES,
    DEFAULT_FIT_ROWS,
    DEFAULT_SHARD_SIZE,
    DEFAULT_TRAIN_CUTS,
    DEFAULT_TRIALS,
    DEFAULT_VALID_WINDOWS,
    RunSettings,
)
from recsys.split import FINAL, CutKind, cut_kind, cut_names

#: The one item of an empty second batch of trials.
NO_TRIAL = None
#: The flow's folder (the checkout's ``flows/``, or a remote task's extracted code package).
HERE = Path(__file__).parent

setup_logging()

#: Test hook, to exercise ``resume`` and ``@retry`` (never set it in production): ``<step>`` makes that step's
#: tasks raise, ``<step>:kill`` makes them SIGKILL their own process (a worker dying mid-step, with nothing
#: saved), ``<step>:once`` makes only their first attempt raise (what a retry recovers from).
FAIL_STEP_ENV = "RECSYS_FAIL_STEP"

#: Resources of the steps on remote compute (``--with kubernetes`` / ``--with batch`` / Argo Workflows; ignored
#: locally), from the peaks measured at the real volume (``full``) and at four times it (``full@4``;
#: docs/performance.md, "Past one machine") with ~50% headroom, and the 2 threads each model uses. A table task
#: holds one shard of users: 2.2 GB at ``full``, 3.4 GB at ``full@4``. A branch fits its sources on the whole log:
#: 0.7-0.9 GB, 2.3-3.3 GB. The other model steps grow with the log: at most 2.1 GB at ``full``, 3.9 GB at
#: ``full@4`` (``weigh``, the trials, ``final``); ``track`` holds the served model (1.0 GB, 3.3 GB) on one
#: thread; the joins and the search's bookkeeping at most 1.7 GB at ``full@4`` (``join_candidates``).
SHARD = {"cpu": 2, "memory": 5_000}
BRANCH = {"cpu": 2, "memory": 5_000}
WHOLE_LOG = {"cpu": 2, "memory": 6_000}
MODEL = {"cpu": 1, "memory": 5_000}
LIGHT = {"cpu": 1, "memory": 4_096}  # Metaflow's default and its floor on Kubernetes
#: Artifacts a step may read and must not store again (a loaded artifact left on ``self`` is pickled again when
#: the step ends; the parent's copy passes on by reference).
READ_ONLY = ("ds", "catalog", "answers", "baseline_scores", "pools", "buyer_inputs", "truth")


def maybe_fail(step_name: str) -> None:
    requested = os.environ.get(FAIL_STEP_ENV, "")
    if requested == f"{step_name}:kill":
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
    if requested == step_name or (requested == f"{step_name}:once" and current.retry_count == 0):
        raise RuntimeError(f"failing step {step_name!r} on purpose ({FAIL_STEP_ENV} is set)")


def store(flow, record) -> None:
    """Set a record's fields (``recsys.records``) or a dict's items on the flow, as artifacts of their names."""
    for name, value in (record if isinstance(record, dict) else records.fields_of(record)).items():
        setattr(flow, name, value)


def forget(flow, *more: str, kept: tuple[str, ...] = ()) -> None:
    """Drop the loaded copies of :data:`READ_ONLY` artifacts (and ``more``) at the end of a step that only read
    them (``kept``: the ones the step produced itself)."""
    for name in (*READ_ONLY, *more):
        if name not in kept:
            flow.__dict__.pop(name, None)


# a failed run (or resume) ends its MLflow run FAILED with the error, never FINISHED with half the artifacts
@exit_hook(on_error=["recsys.tracking.fail_metaflow_run"])
@ShipLibrary
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
    candidates = Parameter("candidates", default=DEFAULT_CANDIDATES, type=int, help="Candidates per source and user")
    shard_size = Parameter(
        "shard-size",
        default=DEFAULT_SHARD_SIZE,
        type=int,
        help="Users per table task: a cut's feature table is built and scored in shards of at most this many users "
        "(one shard per cut at the default pool; the results do not depend on it)",
    )
    fit_rows = Parameter(
        "fit-rows",
        default=DEFAULT_FIT_ROWS,
        type=int,
        help="History rows per candidate task: the cuts are grouped into tasks of about this many rows (summed over "
        "their cuts), each running the five branches side by side, and the buyer model's daily cuts alike; 1: one "
        "task per cut (the results do not depend on it)",
    )
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
    promote = Parameter(
        "promote",
        default=DEFAULT_PROMOTE,
        help="When the new model becomes its lineage's champion: if-better (a fair comparison with the current one, "
        "README 'Champion'), always, or never (register only)",
    )
    lineage = Parameter(
        "lineage",
        default="",
        help="The data lineage the model belongs to (champions are per lineage); empty: the data folder's name, or "
        "synthetic-<preset>-seed<seed>",
    )
    tracking_uri = Parameter("tracking-uri", default="", help="MLflow URI; empty: $MLFLOW_TRACKING_URI or sqlite")
    experiment = Parameter("experiment", default="stokman-recsys", help="MLflow experiment")
    model_name = Parameter("model-name", default="stokman-recommender", help="MLflow registered model name")

    def _settings(self) -> RunSettings:
        return RunSettings(
            top_users=self.top_users,
            k=self.k,
            seed=self.seed,
            candidates=self.candidates,
            pool_size=self.pool_size,
            train_cuts=self.train_cuts,
            buyer_cuts=self.buyer_cuts,
            valid_windows=self.valid_windows,
            trials=self.trials_n,
            shard_size=self.shard_size,
            fit_rows=self.fit_rows,
        )

    def _scope(self) -> validation.Scope:
        return validation.Scope(self.cuts, self.settings, self.answers, self.catalog)

    def _windows(self, reader: shards.ArtifactReader) -> validation.Windows:
        inputs = {w: self.buyer_inputs[w] for w in cut_names(self.cuts, CutKind.VALID)}
        return validation.Windows(reader.tables, inputs, self.buyer_models[CutKind.VALID])

    def _placement(self) -> pipeline.Placement:
        return pipeline.Placement(self.output, self.ids.name, self.data_lineage, self.data_fingerprint, self.k,
                                  self.top_users)  # fmt: skip

    @resources(**WHOLE_LOG)  # no @retry: it opens the MLflow run
    @step
    def start(self):
        """Check the parameters, the data folder and the tracking server, load and validate the data, fix the cuts."""
        self.settings = self._settings()
        trials = pipeline.check_run(self.settings, self.grid, self.promote)  # fail fast on a bad parameter
        spec = pipeline.DataSpec(self.data_dir, self.preset, self.stitch_identities, self.lineage)
        data_dir = pipeline.locate_data(spec, self.seed)  # a wrong --data-dir stops here, before MLflow
        self.ids = pipeline.RunIds(current.flow_name, current.run_id, current.username, pipeline.git_commit(HERE))
        self.data_lineage = spec.lineage_of(self.seed)
        options = {"data_dir": spec.label, "lineage": self.data_lineage, "grid": self.grid}
        options.update(ablation=self.ablation, plain=self.plain, promote=self.promote)
        self.mlflow_uri, self.mlflow_run_id = pipeline.open_tracking(
            self.tracking_uri, self.experiment, self.ids, {**self.settings.as_dict(), **options}
        )
        started = pipeline.load_run(self.settings, spec, data_dir, trials)
        store(self, started.artifacts())
        self.data_fingerprint = pipeline.tag_data(self.mlflow_uri, self.mlflow_run_id, started, self.data_lineage)
        if started.note:
            print(started.note)
        self.next(self.buyer_days, foreach="buyer_plan")

    @retry(times=1)
    @resources(**WHOLE_LOG)
    @step
    def buyer_days(self):
        """The buyer model's labelled inputs at one group of its daily cuts (``training.buyer_plan``)."""
        self.daily_inputs = training.daily_inputs(self.ds, self.input, self.settings.pool)
        print(training.daily_line(self.input))
        forget(self)
        self.next(self.buyer_model)

    @retry(times=1)
    @resources(**WHOLE_LOG)
    @step
    def buyer_model(self, inputs):
        """P(buy) from the users' history alone: one model learnt from daily cuts before the validation windows,
        one from daily cuts up to the end of the log (``training.learn_buyer_models``). They choose who gets
        candidates at the validation windows and the final cut (in ``fit_cuts``)."""
        maybe_fail("buyer_model")
        self.merge_artifacts(inputs, exclude=["daily_inputs"])
        daily = {at: i for inp in inputs for at, i in inp.daily_inputs.items()}
        found = training.learn_buyer_models(self.buyer_daily_cuts, daily, self.seed)
        self.buyer_models, self.buyer_model_facts = found.models, found.facts
        print("\n".join(found.lines()))
        self.next(self.plan_fits)

    @retry(times=1)
    @resources(**LIGHT)
    @step
    def plan_fits(self):
        """Fan out over the groups of cuts (Metaflow needs a step between a join and a foreach)."""
        self.next(self.fit_cuts, foreach="fit_plan")

    @retry(times=1)
    @resources(**WHOLE_LOG)
    @step
    def fit_cuts(self):
        """One group of cuts (``training.fit_groups``): the users scored at each (``training.user_pools``), whose
        candidates the five branches propose side by side, and, at its validation windows, what scoring reads of
        the log (their answers and the baselines' scores: the trials, ``weigh`` and ``track`` never load it)."""
        self.fit_group = self.input
        cuts = {n: self.cuts[n] for n in self.fit_group}
        self.pools = training.user_pools(self.ds, cuts, self.settings.pool, self.buyer_models)
        self.answers = validation.window_answers(self.ds, cuts, self.k)
        scope = validation.Scope(cuts, self.settings, self.answers, self.catalog)
        self.window_baselines = hypotheses.baseline_windows(self.ds, scope)
        print("\n".join(training.pool_lines(cuts, self.pools, self.settings.pool)))
        forget(self, "buyer_models", kept=("pools", "answers"))
        self.next(self.history, self.covisit, self.als, self.faiss, self.popularity)

    def _branch(self, name: str) -> None:
        maybe_fail(name)
        cuts = {n: self.cuts[n] for n in self.fit_group}
        store(self, training.branch_candidates(name, self.ds, cuts, self.pools, self.settings).artifacts(name))
        forget(self)

    @retry(times=1)
    @resources(**BRANCH)
    @step
    def history(self):
        """The user's own viewed / liked / basket / ordered items, and those of the users most like them."""
        self._branch("history")
        self.next(self.join_branches)

    @retry(times=1)
    @resources(**BRANCH)
    @step
    def covisit(self):
        """Items co-visited with the user's recent items."""
        self._branch("covisit")
        self.next(self.join_branches)

    @retry(times=1)
    @resources(**BRANCH)
    @step
    def als(self):
        """implicit ALS on action-weighted confidences."""
        self._branch("als")
        self.next(self.join_branches)

    @retry(times=1)
    @resources(**BRANCH)
    @step
    def faiss(self):
        """FAISS neighbours of the user's title-embedding profile."""
        self._branch("faiss")
        self.next(self.join_branches)

    @retry(times=1)
    @resources(**BRANCH)
    @step
    def popularity(self):
        """Trending items, overall and in the user's categories."""
        self._branch("popularity")
        self.next(self.join_branches)

    @retry(times=1)
    @resources(**LIGHT)
    @step
    def join_branches(self, inputs):
        """Every source's candidates at the group's cuts, one artifact per cut (a table task loads only its cut's);
        the sources fitted on the final cut pass on by reference, unread (``final_sources_<branch>``)."""
        self.merge_artifacts(inputs, exclude=["branch"])
        joined = training.join_branches([inp.branch for inp in inputs])  # sorted: no dependence on timing
        store(self, {shards.candidates_artifact(cut): c for cut, c in joined.by_cut().items()})
        self.group_metrics = joined.metrics
        self.next(self.join_candidates)

    @retry(times=1)
    @resources(**LIGHT)
    @step
    def join_candidates(self, inputs):
        """Every group's candidates (passed on by reference, unread), the sources' candidate recalls, the pools (split
        into user shards for the tables), the windows' answers and the baselines' scores."""
        self.merge_artifacts(inputs, exclude=["fit_group", "group_metrics", "pools", "answers", "window_baselines"])
        metrics = training.join_metrics([inp.group_metrics for inp in inputs], self.cuts)
        store(self, records.Candidates(training.join_cuts([inp.pools for inp in inputs], self.cuts), metrics))
        self.answers = training.join_cuts([inp.answers for inp in inputs], self.cuts)
        windows = cut_names(self.cuts, CutKind.VALID)
        self.baseline_scores = hypotheses.join_windows([inp.window_baselines for inp in inputs], windows)
        self.shard_plan = shards.plan(self.pools, self.settings.shard_size)
        self.next(self.plan_tables)

    @retry(times=1)
    @resources(**LIGHT)
    @step
    def plan_tables(self):
        """Fan out over (cut, user shard) (Metaflow needs a step between a join and a foreach)."""
        self.next(self.build_table, foreach="shard_plan")

    @retry(times=1)
    @resources(**SHARD)
    @step
    def build_table(self):
        """Features and labels of one shard of a cut's users, its learnable rows and its buyer-model inputs (a
        training cut's table holds only its buyers, the only users a reranker learns from)."""
        shard = self.input
        candidates = shards.ArtifactReader(self, self.shard_plan).candidates(shard.cut)
        learn_only = cut_kind(shard.cut) is CutKind.TRAIN
        data = training.shard_data(
            self.ds, self.cuts[shard.cut], shard.users(self.pools[shard.cut]), candidates, learn_only
        )
        setattr(self, shard.table_artifact, PackedFrame(data.table))  # zstd, not 900 MB through gzip
        if data.rows is not None:
            setattr(self, shard.rows_artifact, PackedFrame(data.rows))
        self.shard_inputs = data.inputs
        print(f"{shard}: {len(data.table):,} candidate rows of {data.table['user'].nunique():,} users")
        forget(self)
        self.next(self.join_tables)

    @retry(times=1)
    @resources(**LIGHT)
    @step
    def join_tables(self, inputs):
        """Collect the shard tables (passed on by reference, not loaded) and each cut's buyer-model inputs."""
        self.merge_artifacts(inputs, exclude=["shard_inputs"])
        self.buyer_inputs = shards.join_inputs([(inp.input, inp.shard_inputs) for inp in inputs])
        self.next(self.prepare_trials)

    @retry(times=1)
    @resources(**LIGHT)
    @step
    def prepare_trials(self):
        """The first batch of trials (the --grid ones, then Optuna's start-up points), one task per trial and group
        of validation windows (``window_plan``: one group unless the windows are large)."""
        from recsys.search import Search, rounds

        first, self.second_batch = rounds(self.trials_n, len(self.first_trials))
        self.search = Search(self.seed, self.n_train_cuts, self.first_trials, startup=first)
        self.batch = trials.trial_tasks(self.search.ask(first), self.window_plan)
        self.next(self.train_trial, foreach="batch")

    def _trial(self) -> None:
        """One trial task: fit the trial's reranker on its training cuts, score its validation windows shard by
        shard."""
        maybe_fail("train_trial")
        task, reader = self.input, shards.ArtifactReader(self, self.shard_plan)
        rows = [reader.rows(n) for n in cut_names(self.cuts, CutKind.TRAIN)[: task.params.train_cuts]]
        self.outcome = trials.run_trial_part(self._scope(), task, rows, self._windows(reader), True)
        print(self.outcome.line())
        forget(self)

    def _tell(self, inputs) -> list:
        """A batch's outcomes (its tasks' parts joined) in proposal order, reported to the study in that order (the
        next proposals must not depend on which task finished first). The placeholder of an empty second batch
        has none."""
        parts = [i.outcome for i in inputs if i.outcome is not None]
        outcomes = trials.join_trials(parts, cut_names(self.cuts, CutKind.VALID))
        for outcome in outcomes:
            self.search.tell(outcome.number, outcome.recall)
            print(outcome.line())
        return outcomes

    @retry(times=1)
    @resources(**WHOLE_LOG)
    @step
    def train_trial(self):
        """A trial of the first batch."""
        self._trial()
        self.next(self.tell)

    @retry(times=1)
    @resources(**LIGHT)
    @step
    def tell(self, inputs):
        """Report the first batch's mean validation recalls to the study."""
        self.merge_artifacts(inputs, exclude=["outcome", "batch"])
        self.outcomes = self._tell(inputs)
        self.next(self.propose)

    @retry(times=1)
    @resources(**LIGHT)
    @step
    def propose(self):
        """Optuna (TPE) proposes the second batch from the first one's recalls, one task each. Without a search
        (--trials equal to the --grid trials) the batch is one placeholder: a foreach cannot be empty."""
        asked = self.search.ask(self.second_batch)
        self.batch = trials.trial_tasks(asked, self.window_plan) or [NO_TRIAL]
        if self.second_batch:
            print("second batch: " + "; ".join(f"trial {n}: {p.label}" for n, p in asked))
        else:
            print(f"no second batch: --trials {self.trials_n} runs only the --grid trials")
        self.next(self.train_more, foreach="batch")

    @retry(times=1)
    @resources(**WHOLE_LOG)
    @step
    def train_more(self):
        """A trial of Optuna's second batch (nothing for the placeholder of an empty one)."""
        if self.input is NO_TRIAL:
            self.outcome = None
        else:
            self._trial()
        self.next(self.tell_more)

    @retry(times=1)
    @resources(**LIGHT)
    @step
    def tell_more(self, inputs):
        """Collect the second batch's outcomes beside the first's (Metaflow needs a step between this join and
        the split that follows)."""
        self.merge_artifacts(inputs, exclude=["outcome", "batch"])
        self.outcomes = self.outcomes + self._tell(inputs)
        self.next(self.choose)

    @retry(times=1)
    @resources(**LIGHT)
    @step
    def choose(self):
        """Keep the best trial by mean validation recall; then retrain it (``final``) while the rows beside it are
        scored (``weigh``): the two need only the choice."""
        from recsys.report import trial_console_table

        store(self, trials.chosen(self.outcomes))
        print("\n".join([trial_console_table(self.trial_table), trials.best_line(self.outcomes)]))
        self.next(self.weigh, self.final)

    @retry(times=1)
    @resources(**WHOLE_LOG)
    @step
    def weigh(self):
        """Score the rows beside the best trial: the baselines, each source alone, the plain two-stage model and,
        with --ablation, the best recipe retrained without each source (all over the validation windows, with each
        buyer's recall for paired verdicts)."""
        reader = shards.ArtifactReader(self, self.shard_plan)
        evidence = hypotheses.Evidence(reader.candidates, self._windows(reader), reader.rows, self.baseline_scores)
        choice = hypotheses.weigh(self._scope(), self.outcomes, evidence, plain=self.plain, ablation=self.ablation)
        store(self, choice.record())
        print("\n".join(choice.lines()))
        forget(self)
        self.next(self.track)

    @retry(times=1)
    @resources(**WHOLE_LOG)
    @step
    def final(self):
        """Retrain the chosen recipe on the newest labelled cuts into the run's two-stage model, and write the
        submission for the days after the log with that model (the object the run registers and serves)."""
        from recsys.model import ModelParts, SecondStage, rank_final
        from recsys.submission import final_submission

        maybe_fail("final")
        reader = shards.ArtifactReader(self, self.shard_plan)
        rows = [reader.rows(n) for n in training.final_cuts(self.cuts, self.best_params)]
        stage = SecondStage.learn(
            self.best_params, rows, self.buyer_models[CutKind.FINAL], self.best_strategy, self.seed, True
        )
        # the shards are ranked before the log is first read (self.ds): the two never share the step's memory
        ranking = rank_final(stage, reader.tables(FINAL), self.buyer_inputs[FINAL], self.k, self.top_users)
        # the served model is these parts with the branches' final sources, stored where they are (never pickled whole)
        self.model_parts = ModelParts.at_cut(self.ds, self.cuts[FINAL], stage, self.candidates)
        result = final_submission(self.catalog, self.model_parts, ranking, self.k, self.top_users)
        out = pipeline.write_output(result, self.ds, self.truth, self._placement())  # never over another lineage's
        importance = stage.reranker.feature_importance()
        store(self, records.Final(result.submission, out.path, out.test_results, importance, result.example))
        print("\n".join(out.lines))
        forget(self)
        self.next(self.track)

    @resources(**MODEL)  # no @retry: it registers a model version
    @step
    def track(self, inputs):
        """Join the submission and the rows beside the best trial, and finish the MLflow run opened at the start:
        metrics, tables, plots, the submission, the reranker, and the run's two-stage model registered as the
        champion pyfunc model."""
        self.merge_artifacts(inputs)
        reader = shards.ArtifactReader(self, self.shard_plan)
        model_of = functools.partial(pipeline.served_model, reader)  # the object the submission was written with
        tracked = records.Tracked(pipeline.track(records.read(self, tracked=False), model_of, self.ids, current.run_id))
        store(self, tracked)
        print("\n".join(tracked.mlflow["promotion"]))
        forget(self, "submission")
        self.next(self.end)

    @retry(times=1)
    @resources(**LIGHT)
    @card(type="blank", id="report", timeout=600)
    @step
    def end(self):
        """Summary and next steps, and the run report as this step's card (``card view <run id>/end``; the same
        content as ``python -m recsys present``)."""
        from recsys import report

        run = records.read(self)
        self.report_summary = report.summarize(run, current.run_id, getattr(self, "_graph_info", None))
        current.card.extend(report.card_components(*report.build_slides(self.report_summary)))
        closing = report.Closing.of(run, report.short_path(__file__), report.short_path(sys.executable))
        print(report.console_summary(self.report_summary, closing))
        forget(self, "submission")


if __name__ == "__main__":
    RecsysFlow()
