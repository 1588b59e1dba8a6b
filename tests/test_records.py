"""The records between the steps and the one reader of a run (``recsys.records``)."""

from dataclasses import MISSING, fields
from types import SimpleNamespace

import pytest

from recsys import records


def artifacts() -> dict:
    """A value for every field of every record, as a finished run's end step holds them."""
    return {f.name: f"<{f.name}>" for kind in records.STEPS.values() for f in fields(kind)} | {"data_facts": {}}


def test_the_reader_rebuilds_every_record_from_the_artifacts_of_their_names():
    run = records.read(SimpleNamespace(**artifacts()))
    assert run.chosen.valid_recall == "<valid_recall>" and run.final.submission == "<submission>"
    assert run.start.cuts == "<cuts>" and run.tracked.mlflow == "<mlflow>" and run.params.k == "<k>"
    assert records.fields_of(run.candidates) == {"pools": "<pools>", "source_metrics": "<source_metrics>"}


def test_a_missing_artifact_is_an_error_naming_it_and_its_step_and_older_runs_have_stand_ins():
    required = [f.name for kind in records.STEPS.values() for f in fields(kind) if f.default is MISSING]
    for name in required:
        data = SimpleNamespace(**{k: v for k, v in artifacts().items() if k != name})
        with pytest.raises(records.MissingArtifactError, match=rf"no {name} \("):
            records.read(data)
    older = {k: v for k, v in artifacts().items() if k not in records.OLDER_RUNS and k != "data_facts"}
    older |= {"train_cuts": 4, "data_facts": {"data": {}}}  # (facts missing too are taken from the log: report tests)
    run = records.read(SimpleNamespace(**older))
    assert run.start.n_train_cuts == 4 and run.weighed.buyer_recalls is None and run.params.ablation is None
    assert records.read(SimpleNamespace(**older), tracked=False).tracked is None
