"""The registered recommender as an MLflow "model from code": MLflow runs this file to build the pyfunc model
(instead of unpickling a Python object), and ``load_context`` then loads the pickled ``Recommender`` artifact.
See ``recsys.serving.RecommenderModel`` and ``recsys.tracking.log_flow_run``."""

import mlflow

from recsys.serving import RecommenderModel

mlflow.models.set_model(RecommenderModel())
