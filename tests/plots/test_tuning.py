import json

from matplotlib.image import imread

from seafloorhmc.plots.tuning import plot_optimisation_history, plot_param_importances, plot_validation_curves

ROWS = [{"trial": 0, "state": "complete", "value": 0.3, "feasible": True, "curve": json.dumps({"0": 0.1, "1": 0.3})},
        {"trial": 1, "state": "pruned", "value": None, "curve": json.dumps({"0": 0.05})},
        {"trial": 2, "state": "complete", "value": 0.5, "feasible": False, "curve": {"0": 0.2, "1": 0.5}},
        {"trial": 3, "state": "fail", "value": None, "curve": ""}]


def test_tuning_figures_are_written_as_images(tmp_path):
    for png in (plot_optimisation_history(ROWS, tmp_path / "h.png", reference=0.2),
                plot_validation_curves(ROWS, tmp_path / "c.png"),
                plot_param_importances({"train.lr": 0.8, "loss.omega": 0.2}, tmp_path / "i.png")):
        image = imread(png)
        assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0  # a real picture, not a blank


def test_an_empty_study_still_draws(tmp_path):
    assert plot_optimisation_history([], tmp_path / "h.png").is_file()
    assert plot_validation_curves([], tmp_path / "c.png").is_file()
    assert plot_param_importances({}, tmp_path / "i.png").is_file()
