"""The survey configs: CPU (frozen small encoder, feature cache) and GPU (fine-tuning at 224 px with AMP)."""

from __future__ import annotations

from pathlib import Path

import pytest

from seafloorhmc.config import ConfigError, load_config
from seafloorhmc.data.readers import FORMATS

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_cpu_config_trains_the_head_on_cached_features_of_a_frozen_encoder():
    config = load_config(CONFIGS / "survey_cpu.yaml", ["model.weights=resnet18.safetensors",
                                                       "data.annotations=a.csv"])
    assert (config.model.encoder, config.model.pretrained, config.model.freeze) == ("resnet18", True, True)
    assert config.data.augment is False and config.data.feature_cache == "auto"  # what the feature cache needs
    assert config.name == "" and config.eval.review_calibration == "precision"


def test_gpu_config_fine_tunes_at_224_px_with_amp():
    config = load_config(CONFIGS / "survey_gpu.yaml", ["model.weights=resnet50.safetensors",
                                                       "data.annotations=a.csv"])
    assert config.model.freeze is False and config.data.image_size == config.data.patch_size == 224
    assert (config.train.amp, config.train.device, config.train.channels_last) == ("bf16", "cuda", "on")


@pytest.mark.parametrize("name", ["survey_cpu", "survey_gpu"])
def test_points_become_patches_and_a_format_is_required(name):
    with pytest.raises(ConfigError, match="needs data.annotations"):
        load_config(CONFIGS / f"{name}.yaml", ["model.weights=w.safetensors"])
    config = load_config(CONFIGS / f"{name}.yaml", ["model.weights=w.safetensors", "data.format=coralnet",
                                                    "data.annotations=a.csv", "data.label_map=m.csv"])
    assert FORMATS.get(config.data.format).grouping(config.data.group_by) == "annotation"
