"""Layout decisions of the run pictures that a screenshot showed were needed (figures captured, not decoded)."""

from __future__ import annotations

import pytest

from seafloorhmc.plots import depth, training


@pytest.fixture
def captured(monkeypatch):
    """The figures the plot functions would save, keyed by module."""
    figures = {}
    for module in (training, depth):
        monkeypatch.setattr(module, "save_png", lambda fig, out, m=module.__name__: figures.setdefault(m, fig) and out)
    return figures


def test_a_one_epoch_log_is_ticked_at_that_epoch_only(captured, tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("epoch,train_loss,lr\n1,0.5,0.001\n")
    training.plot_training_curves(log, tmp_path / "c.png")
    axis = captured[training.__name__].axes[-1]
    assert [t.get_text() for t in axis.get_xticklabels()] == ["1"]
    assert axis.get_xlim() == (0.5, 1.5)


def test_two_epochs_keep_integer_ticks(captured, tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("epoch,train_loss,lr\n1,0.5,0.001\n2,0.4,0.001\n")
    training.plot_training_curves(log, tmp_path / "c.png")
    ticks = captured[training.__name__].axes[-1].get_xticks()
    shown = [t for t in ticks if 1 <= t <= 2]
    assert shown and all(float(t).is_integer() for t in shown)


@pytest.mark.parametrize("n_depths, stacked", [(3, False), (depth.STACK_ABOVE, False), (depth.STACK_ABOVE + 1, True),
                                               (18, True)])
def test_deep_taxonomies_stack_recall_above_f1(captured, tmp_path, n_depths, stacked):
    values = {str(d): 0.5 for d in range(1, n_depths + 1)}
    depth.plot_by_depth({"recall_by_depth": values, "f1_by_depth": values}, tmp_path / "d.png")
    fig = captured[depth.__name__]
    recall, f1 = fig.axes[:2]
    (x0, y0), (x1, y1) = recall.get_position().p0, f1.get_position().p0
    if stacked:
        assert abs(x0 - x1) < 1e-6 and y0 > y1, "recall panel above the F1 panel"
        assert fig.get_figwidth() * fig.dpi <= 14.5 * fig.dpi  # 120-dpi PNG ≤ 1740 px: no sideways scrolling
    else:
        assert abs(y0 - y1) < 1e-6 and x0 < x1, "recall left of F1"
