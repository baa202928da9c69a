"""The fixed choices of every configuration key, as ``Literal`` types.

This module imports nothing heavy, so a configuration is validated (and the command line answers)
without loading torch. The modules that implement a choice read their names from here with
``typing.get_args``; the registries of heads and losses are tested to hold exactly these names.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "GroupBy", "Normalisation", "Resample", "LprosUpdate", "Impute", "CacheIdentity", "Head", "MemberType",
    "NodeWeightMode", "NegativeWeights", "WeightTarget", "WeightTargetOrAuto", "UncertaintyMode", "UncertaintyOrNone",
    "UncertaintySource", "Schedule", "SchedulePer", "Reduction", "LevelWeighting", "ParentAnchor", "Optimizer",
    "LrSchedule", "Amp", "ChannelsLast", "SelectMetric", "Decoding", "ReviewCalibration", "UNCERTAINTY_ALIASES",
]

GroupBy = Literal["auto", "image", "annotation"]
Normalisation = Literal["encoder", "imagenet", "benthicnet"]
Resample = Literal["none", "lpros"]
LprosUpdate = Literal["parent", "ancestors"]
Impute = Literal["train", "per_split"]
CacheIdentity = Literal["stat", "content"]

Head = Literal["mlp", "prototype"]
MemberType = Literal["ensemble", "mc_dropout"]

NodeWeightMode = Literal["none", "class-wise", "binary"]
NegativeWeights = Literal["ones", "inverse", "common"]
WeightTarget = Literal["positive", "negative"]
WeightTargetOrAuto = Literal["auto", "positive", "negative"]  # auto: resolved per data kind when a config loads
UncertaintyMode = Literal["bma", "predictive", "aleatoric", "epistemic_js", "epistemic_kl", "gmu"]
#: Older names of uncertainty modes, still accepted where a mode is named (``--uncertainty``).
UNCERTAINTY_ALIASES = {"mean": "bma", "pcs": "gmu", "epistemic": "epistemic_js"}
UncertaintyOrNone = Literal["none", "bma", "predictive", "aleatoric", "epistemic_js", "epistemic_kl", "gmu"]
UncertaintySource = Literal["raw", "constrained"]
Schedule = Literal["none", "linear", "exponential", "alternating"]
SchedulePer = Literal["epoch", "run"]
Reduction = Literal["mean", "sum"]
LevelWeighting = Literal["awa", "dwa", "equal", "uncertainty"]
ParentAnchor = Literal["batch_centroid", "sample"]

Optimizer = Literal["adam", "adamw", "sgd"]
LrSchedule = Literal["cosine", "constant"]
Amp = Literal["auto", "bf16", "off"]
ChannelsLast = Literal["auto", "on", "off"]
SelectMetric = Literal[
    "au_prc", "bin_ap", "precision", "recall", "f1", "precision_present", "recall_present", "f1_present",
    "micro_precision", "micro_recall", "micro_f1", "h_precision", "h_recall", "h_f1", "rare_recall", "rare_f1",
    "hvr", "hvr_edges", "ece", "loss", "path_accuracy",
]
Decoding = Literal["independent", "consistent"]
ReviewCalibration = Literal["precision", "flagged_share", "off"]
