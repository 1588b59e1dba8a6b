"""What the scoring tests share on the tiny synthetic dataset (their fixtures are in ``tests/conftest.py``): the
settings, a quick reranker's parameters, and the validation windows over the ``valid`` cut's table."""

from recsys import validation
from recsys.reranker import TrialParams
from recsys.settings import RunSettings

SETTINGS = RunSettings(top_users=50, k=10, candidates=30, pool_size=400, train_cuts=1, buyer_cuts=4, valid_windows=1)
PARAMS = TrialParams("Logloss", depth=3, iterations=30)


def windows_of(data, buyer_model, names=("valid",), loaded=None):
    """The validation windows' inputs, every window reading the ``valid`` cut's table (``loaded`` records the
    windows whose tables were read, in order)."""

    def tables(window):
        if loaded is not None:
            loaded.append(window)
        yield data["valid"].table

    return validation.Windows(tables, {w: data["valid"].inputs for w in names}, buyer_model)


def two_windows(setup, data, buyer_model):
    """A scope of two validation windows at the ``valid`` cut, ``valid`` reading its whole table and ``valid2``
    every other user's rows of it (two windows whose figures differ), and their inputs."""
    import numpy as np

    from recsys.schema import Columns as C

    ds, cuts, _ = setup
    scope = validation.Scope.of(ds, {"valid": cuts["valid"], "valid2": cuts["valid"]}, SETTINGS)
    table = data["valid"].table
    half = table[table[C.USER].isin(np.unique(table[C.USER])[::2])]
    inputs = {w: data["valid"].inputs for w in ("valid", "valid2")}
    return scope, validation.Windows(lambda w: iter([table if w == "valid" else half]), inputs, buyer_model)
