import ast
import os
from pathlib import Path

import pandas as pd
import pytest

from recsys.buyers import BuyerModel
from recsys.model import SecondStage, TwoStageModel, rank_final
from recsys.submission import (
    SubmissionError,
    build_submission,
    final_submission,
    read_submission,
    validate_submission,
    write_submission,
)
from recsys.training import fit_reranker
from tests.scoring import PARAMS, SETTINGS

PADDING = [f"{i}" for i in range(100, 140)]


def test_build_pads_dedupes_and_cuts():
    sub = build_submission({"u1": ["1", "1", "2"], "u2": [str(i) for i in range(30)]}, PADDING, k=5, top_users=5)
    assert sub.loc[0, "products"] == ["1", "2", "100", "101", "102"]
    assert sub.loc[1, "products"] == ["0", "1", "2", "3", "4"]


def test_build_refuses_over_budget_and_short_padding():
    with pytest.raises(SubmissionError, match="budget"):
        build_submission({"a": ["1"], "b": ["2"]}, PADDING, k=2, top_users=1)
    with pytest.raises(SubmissionError, match="only 2 distinct"):
        build_submission({"a": ["1"]}, ["1", "2"], k=3)


def test_round_trip_in_organisers_format(tmp_path):
    sub = build_submission({"u1": ["4811953", "4040418"]}, PADDING, k=3)
    path = write_submission(sub, tmp_path / "out" / "submission.csv")
    text = path.read_text().splitlines()
    assert text[0] == "user_id,products"
    assert text[1] == "u1,\"['4811953', '4040418', '100']\""
    raw = pd.read_csv(path)
    assert ast.literal_eval(raw.loc[0, "products"]) == ["4811953", "4040418", "100"]
    back = validate_submission(path, catalog_ids=["4811953", "4040418", "100"], k=3)
    assert back.loc[0, "products"] == ["4811953", "4040418", "100"]
    assert list(tmp_path.joinpath("out").iterdir()) == [path]  # no temp file left behind


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"user_id": ["a", "a"], "products": [["1", "2"], ["3", "4"]]}), "duplicated user_id"),
        (pd.DataFrame({"user_id": ["a"], "products": [["1"]]}), "1 products, expected 2"),
        (pd.DataFrame({"user_id": ["a"], "products": [["1", "1"]]}), "duplicated products"),
        (pd.DataFrame({"user_id": ["a"], "products": [[1, 2]]}), "non-string"),
        (pd.DataFrame({"user_id": ["a"], "products": [["1", "zz"]]}), "unknown products"),
        (
            pd.DataFrame({"user_id": ["a", "b", "c"], "products": [["1", "2"]] * 3}),
            "more than the 2-user budget",
        ),
        (pd.DataFrame({"user_id": [], "products": []}), "no rows"),
    ],
)
def test_validate_rejects(frame, message):
    with pytest.raises(SubmissionError, match=message):
        validate_submission(frame, catalog_ids=["1", "2", "3", "4"], k=2, top_users=2)


def test_read_rejects_bad_files(tmp_path):
    with pytest.raises(SubmissionError, match="no such file"):
        read_submission(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,items\na,x\n")
    with pytest.raises(SubmissionError, match="missing column"):
        read_submission(bad)
    bad.write_text("user_id,products\na,\"['1', \"\n")
    with pytest.raises(SubmissionError, match="not a Python list"):
        read_submission(bad)


# ----------------------------------------------------------------------------------------------------------
# The submission file is never left half written
# ----------------------------------------------------------------------------------------------------------

OLD = build_submission({"old": ["1", "2"]}, PADDING, k=2)
NEW = build_submission({f"new{i}": [str(i), "2"] for i in range(50)}, PADDING, k=2)


@pytest.mark.parametrize(
    "error", [OSError("No space left on device"), KeyboardInterrupt()], ids=["disk-full", "ctrl-c"]
)
def test_a_failure_while_writing_keeps_the_previous_file_and_no_temp_file(tmp_path, monkeypatch, error):
    path = write_submission(OLD, tmp_path / "submission.csv")
    before = path.read_bytes()

    def write_half_then_fail(self, fh, **kwargs):
        fh.write("user_id,products\nnew0,\"['0', ")
        raise error

    monkeypatch.setattr(pd.DataFrame, "to_csv", write_half_then_fail)
    with pytest.raises(type(error)):
        write_submission(NEW, path)

    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_a_process_killed_while_writing_leaves_the_previous_file(tmp_path):
    """SIGKILL cannot be cleaned up after: at most a hidden temp file stays, the submission is the old one."""
    import signal
    import subprocess
    import sys
    import textwrap

    path = write_submission(OLD, tmp_path / "submission.csv")
    before = path.read_bytes()
    child = textwrap.dedent(
        f"""
        import os, signal
        import pandas as pd
        from recsys.submission import write_submission

        def write_half_then_die(self, fh, **kwargs):
            fh.write("user_id,products\\nnew0,\\"['0', ")
            fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        pd.DataFrame.to_csv = write_half_then_die
        write_submission(pd.DataFrame({{"user_id": ["new0"], "products": [["0", "2"]]}}), {str(path)!r})
        """
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", child], cwd=root, env={"PYTHONPATH": str(root)}, check=False)

    assert done.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    leftovers = [p.name for p in tmp_path.iterdir() if p != path]
    assert len(leftovers) == 1 and leftovers[0].startswith(".submission.csv.") and leftovers[0].endswith(".tmp")


def test_written_file_has_ordinary_permissions(tmp_path):
    """The temp file is owner-only; the submission itself gets the usual mode (0666 minus the umask)."""
    mask = os.umask(0o022)
    try:
        path = write_submission(pd.DataFrame({"user_id": ["u"], "products": [["p"]]}), tmp_path / "s.csv")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


def _frame(user: str = "u1") -> pd.DataFrame:
    return pd.DataFrame({"user_id": [user], "products": [["1", "2"]]})


def test_a_run_replaces_its_own_lineages_file_and_records_where_it_came_from(tmp_path):
    from recsys.submission import Provenance, place_submission

    first = Provenance("RecsysFlow/1", "shop", "f1")
    path, note = place_submission(_frame("a"), tmp_path / "submission.csv", first)
    assert (path, note) == (tmp_path / "submission.csv", "")
    assert Provenance.of(path) == first
    newer = Provenance("RecsysFlow/2", "shop", "f2")  # the same shop's newer log
    path, note = place_submission(_frame("b"), tmp_path / "submission.csv", newer)
    assert path == tmp_path / "submission.csv" and note == "" and Provenance.of(path) == newer
    assert read_submission(path)["user_id"].tolist() == ["b"]


@pytest.mark.parametrize("origin", ["another lineage", "unknown"])
def test_a_run_never_replaces_a_file_of_other_data(tmp_path, origin):
    from recsys.submission import Provenance, place_submission

    target = tmp_path / "submission.csv"
    place_submission(_frame("mine"), target, Provenance("RecsysFlow/1", "shop", "f1"))
    if origin == "unknown":  # a file written by hand: no provenance beside it
        Provenance.path_of(target).unlink()
    before = target.read_bytes()
    drill = Provenance("RecsysFlow/9", "synthetic-tiny-seed0", "f9")
    path, note = place_submission(_frame("drill"), target, drill)
    assert target.read_bytes() == before
    assert path == tmp_path / "submission-synthetic-tiny-seed0.csv" and Provenance.of(path) == drill
    assert note.startswith(f"kept {target}") and str(path) in note
    assert ("RecsysFlow/1" in note) == (origin == "another lineage")


def test_final_submission_is_written_with_the_run_model(scope, setup, data, candidates):
    ds, cuts, _ = setup
    reranker = fit_reranker(PARAMS, [data["valid"].rows])
    stage = SecondStage(reranker, BuyerModel().fit([data["valid"].inputs]), "expected_recall")
    model = TwoStageModel.at_cut(ds, cuts["final"], candidates.final_sources, stage, SETTINGS.candidates)
    ranking = rank_final(stage, iter([data["final"].table]), data["final"].inputs, scope.k, scope.top_users)
    final = final_submission(scope.catalog, model.parts, ranking, scope.k, scope.top_users)
    assert len(final.submission) == 50 and final.submission["products"].map(len).eq(10).all()
    assert list(final.recs) == [ds.users["user_id"].tolist().index(u) for u in final.submission["user_id"]]
    pd.testing.assert_frame_equal(final.example, data["final"].table.head(5))
    # the served model recomputes the same lists for the same users
    assert model.recommend(data["final"].inputs.users.to_numpy(), 10, top_users=50) == final.recs
    # a ranking by any other second stage cannot become the model's submission
    other = SecondStage(fit_reranker(PARAMS, [data["valid"].rows]), stage.buyer_model, stage.strategy)
    with pytest.raises(ValueError, match="another second stage"):
        ranked = rank_final(other, [data["final"].table], data["final"].inputs, scope.k, scope.top_users)
        final_submission(scope.catalog, model.parts, ranked, scope.k, scope.top_users)
