"""MLflow logging of a flow run: parameters, metrics, plots, the submission and the registered reranker."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import pandas as pd

log = logging.getLogger("recsys.tracking")

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
CHAMPION_ALIAS = "champion"


def resolve_tracking_uri(uri: str = "") -> str:
    """The given URI, else ``MLFLOW_TRACKING_URI``, else a local SQLite file."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def plot_bars(values: pd.Series, title: str, xlabel: str, path: Path) -> Path:
    """A horizontal bar chart (largest on top), saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = values.sort_values()
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.28 * len(values) + 1)))
    ax.barh([str(i) for i in values.index], values.to_numpy())
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def log_flow_run(
    *,
    tracking_uri: str,
    experiment: str,
    run_name: str,
    tags: dict[str, str],
    params: dict,
    metrics: dict[str, float],
    tables: dict[str, pd.DataFrame],
    plots: dict[str, pd.Series],
    files: list[Path],
    model,
    model_name: str,
    input_example: pd.DataFrame | None = None,
) -> dict[str, str]:
    """One MLflow run with everything the flow produced; the model registered with the ``champion`` alias.

    ``tables`` are logged as CSV, ``plots`` (name -> values) as bar charts. Returns the run id and model version.
    """
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=run_name, tags=tags) as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if pd.notna(v)})
        for name, table in tables.items():
            path = Path(tmp) / f"{name}.csv"
            table.to_csv(path, index=True)
            mlflow.log_artifact(str(path), artifact_path="tables")
        for name, values in plots.items():
            mlflow.log_artifact(str(plot_bars(values, name, "", Path(tmp) / f"{name}.png")), artifact_path="plots")
        for path in files:
            mlflow.log_artifact(str(path), artifact_path="outputs")
        info = mlflow.catboost.log_model(
            model, name="reranker", registered_model_name=model_name, input_example=input_example
        )
        version = str(info.registered_model_version)
        MlflowClient().set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
        log.info("MLflow run %s, model %s version %s (@%s)", run.info.run_id, model_name, version, CHAMPION_ALIAS)
        return {"run_id": run.info.run_id, "model_version": version, "experiment": experiment}
