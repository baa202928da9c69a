"""Prediction: a trained model over new images, points or exports, and what is written for annotators.

* :func:`predict` / :func:`write_predictions` — rows in memory, or the predictions CSV (+ review queue),
  or (``PredictOptions.export``) an annotation tool's import file
* :mod:`.options` — the request and its model-free checks; :mod:`.inputs` — what an input holds
  (derived from the data-format registry)
* :mod:`.table` — the CSV columns; :mod:`.suggestions` — CoralNet-style machine suggestions
* :mod:`.single_label` — one label per point; :mod:`.exports` — the tools' formats (a registry),
  :mod:`.exporting` — running one
* :mod:`.review` — the review flag's threshold, calibrated on validation at the end of training

Names are imported on first use, so the command line can check a request and list the exports
without loading torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..utils.lazy import lazy_attributes

#: public name → module that defines it
_NAMES = {
    "predict": "predictor", "write_predictions": "predictor", "PredictSummary": "predictor",
    "PredictOptions": "options", "default_review_path": "options", "check_request": "options",
    "collect_items": "inputs", "PredictionDataset": "inputs", "PredictionItem": "items",
}

__all__ = list(_NAMES)

if TYPE_CHECKING:
    from .inputs import PredictionDataset as PredictionDataset
    from .inputs import collect_items as collect_items
    from .items import PredictionItem as PredictionItem
    from .options import PredictOptions as PredictOptions
    from .options import check_request as check_request
    from .options import default_review_path as default_review_path
    from .predictor import PredictSummary as PredictSummary
    from .predictor import predict as predict
    from .predictor import write_predictions as write_predictions


__getattr__, __dir__ = lazy_attributes(__name__, {name: f".{module}" for name, module in _NAMES.items()}, globals())
