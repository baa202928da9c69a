"""Prediction: a trained model over new images, points or exports, and what is written for annotators.

* :func:`predict` / :func:`write_predictions` — rows in memory, or the predictions CSV (+ review queue)
* :mod:`.inputs` — what an input holds (derived from the data-format registry)
* :mod:`.table` — the CSV columns; :mod:`.suggestions` — CoralNet-style machine suggestions
"""

from .inputs import PredictionDataset, PredictionItem, collect_items
from .predictor import PredictOptions, PredictSummary, default_review_path, predict, write_predictions

__all__ = ["predict", "write_predictions", "PredictOptions", "PredictSummary", "default_review_path",
           "collect_items", "PredictionDataset", "PredictionItem"]
