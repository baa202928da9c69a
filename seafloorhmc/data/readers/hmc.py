"""The HMC benchmark feature sets (FunCat / GO / "others" in C-HMCNN's ARFF layout) as a data format.

These are feature vectors, not images: :mod:`seafloorhmc.data.arff` reads them and
:mod:`seafloorhmc.datamodule` batches them in memory.
"""

from __future__ import annotations

from ..formats import FORMATS, DataFormat

__all__ = []

FORMATS.register("hmc", DataFormat(
    name="hmc", summary="HMC benchmark ARFF features (C-HMCNN layout: FunCat, GO, others)",
    source="root", options={"root": "root", "name": "dataset"},
    required={"root": "the C-HMCNN data folder", "dataset": "a dataset name such as cellcycle_FUN"},
    features=True, predict_input=False))
