import pytest
import yaml

from seafloorhmc.experiments.grid import SweepSpecError, expand, load_sweep, restrict, sweep_from_dict
from seafloorhmc.utils.derived_seeds import derive_seed


def test_cells_follow_the_grid_order_with_methods_outermost(hmc_sweep):
    spec = sweep_from_dict(hmc_sweep(grid={"data.train_fraction": [0.5, 1.0], "seed": [0, 1]}))
    cells = expand(spec)
    assert [c.id for c in cells[:3]] == ["method-baseline__train_fraction-0.5__seed-0",
                                         "method-baseline__train_fraction-0.5__seed-1",
                                         "method-baseline__train_fraction-1__seed-0"]
    assert len(cells) == 8 and [c.index for c in cells] == list(range(8))
    assert cells[4].values == {"method": "weighted", "train_fraction": 0.5, "seed": 0}
    assert cells[4].config.loss.node_weights == "class-wise" and cells[0].config.loss.node_weights == "none"
    assert cells[4].config.data.train_fraction == 0.5 and cells[4].config.seed == 0


def test_subset_seed_is_shared_by_methods_and_fractions_of_a_seed(hmc_sweep):
    spec = sweep_from_dict(hmc_sweep(grid={"data.train_fraction": [0.5, 1.0], "seed": [0, 1]},
                                     experiment_seed=4))
    by_seed = {}
    for cell in expand(spec):
        by_seed.setdefault(cell.config.seed, set()).add(cell.config.data.subsample_seed)
    assert by_seed == {0: {derive_seed(4, "subsample", 0)}, 1: {derive_seed(4, "subsample", 1)}}


def test_later_steps_win(hmc_sweep):
    data = hmc_sweep(set=["train.epochs=3", "loss.omega=0.5"],
                     methods={"m": ["loss.omega=0.75", "train.lr=0.01"]}, grid={"train.lr": [0.1]})
    [cell] = expand(restrict(sweep_from_dict(data), overrides=["train.epochs=2", "loss.omega=0.9", "train.lr=5"]))
    assert cell.config.train.epochs == 2  # command line over the spec's set
    assert cell.config.loss.omega == 0.75  # method over the command line
    assert cell.config.train.lr == 0.1  # grid value over the method


def test_base_file_is_relative_to_the_sweep_file(tmp_path, hmc_sweep):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "base.yaml").write_text(yaml.safe_dump(hmc_sweep()["base"]))
    sweep = hmc_sweep(base="configs/base.yaml")
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    spec = load_sweep(tmp_path / "sweep.yaml")
    assert spec.name == "tiny" and expand(spec)[0].config.data.dataset == "toy_FUN"
    sweep["base"] = "configs/missing.yaml"
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    with pytest.raises(SweepSpecError, match="base: config file .*missing.yaml does not exist"):
        load_sweep(tmp_path / "sweep.yaml")


def test_datasets_add_an_outer_axis(hmc_sweep):
    base = hmc_sweep()["base"]
    other = {**base, "model": {"hidden": 4}}
    data = hmc_sweep(datasets={"a": base, "b": other})
    del data["base"]
    cells = expand(sweep_from_dict(data))
    assert list(cells[0].values) == ["dataset", "method", "train_fraction", "seed"]
    assert {c.values["dataset"]: c.config.model.hidden for c in cells} == {"a": 8, "b": 4}


def test_command_line_shrinks_the_grid(hmc_sweep):
    spec = sweep_from_dict(hmc_sweep(grid={"data.train_fraction": [0.25, 0.5, 1.0], "seed": [3, 4, 5]}))
    small = restrict(spec, only=["method=weighted", "train_fraction=0.5,1"], seeds=2)
    assert [c.id for c in expand(small)] == [f"method-weighted__train_fraction-{f}__seed-{s}"
                                            for f in ("0.5", "1") for s in (3, 4)]
    [cell] = expand(restrict(spec, grid=["data.train_fraction=[0.1]"],
                             only=["data.train_fraction=0.1", "method=weighted"], seeds=1))
    assert cell.config.data.train_fraction == 0.1
    assert len(expand(restrict(spec, grid=["model.members=[1,2]"]))) == 36


@pytest.mark.parametrize("change, message", [
    (dict(only=["colour=red"]), "no grid axis 'colour'; axes: method, train_fraction .*data.train_fraction.*, seed"),
    (dict(only=["method=fancy"]), "'fancy' is not a value of axis method \\(baseline, weighted\\)"),
    (dict(only=["method"]), "must look like AXIS=value"),
    (dict(seeds=0), "--seeds must be at least 1"),
    (dict(overrides=["loss.omegga=1"]), "unknown key 'loss.omegga'"),
])
def test_command_line_errors_name_the_culprit(hmc_sweep, change, message):
    with pytest.raises(Exception, match=message):
        expand(restrict(sweep_from_dict(hmc_sweep()), **change))


@pytest.mark.parametrize("change, message", [
    (dict(grid={"method": ["baseline", "other"]}), "grid.method names 'other', which is not under 'methods'"),
    (dict(baseline="nobody"), "baseline 'nobody' is not one of the methods"),
    (dict(grid={"loss.omegga": [1]}), "cell method-baseline__omegga-1: unknown key 'loss.omegga'"),
    (dict(grid={"train.lr": 0.1}), "grid.train.lr must be a non-empty list"),
    (dict(grid={"train.lr": [0.1, 0.1]}), "grid.train.lr repeats a value"),
    (dict(colour="red"), "unknown key 'colour'"),
    (dict(datasets={"a": {}}), "exactly one of 'base'"),
    (dict(grid={"dataset": ["a"]}), "a 'dataset' axis needs 'datasets'"),
    (dict(grid={"data.model": ["x"]}), "unknown key 'data.model'"),
    (dict(summary={"unpaired": ["hcal"]}), "summary.unpaired names 'hcal', which is not a method other than the "
                                           "baseline"),
    (dict(summary={"unpaired": ["baseline"]}), "summary.unpaired names 'baseline'"),
    (dict(summary={"unpaired": "weighted"}), "summary.unpaired must be a list"),
])
def test_spec_errors_name_the_key(hmc_sweep, change, message):
    with pytest.raises(SweepSpecError, match=message):
        expand(sweep_from_dict(hmc_sweep(**change)))


def test_an_invalid_cell_is_named(hmc_sweep):
    spec = sweep_from_dict(hmc_sweep(grid={"data.train_fraction": [0.5, 2.0]}))
    with pytest.raises(SweepSpecError, match=r"cell method-baseline__train_fraction-2: data.train_fraction must lie"):
        expand(spec)


def test_cells_needing_the_same_folder_are_refused(hmc_sweep):
    spec = sweep_from_dict(hmc_sweep(grid={"name": ["a/b", "a b"]}))
    with pytest.raises(SweepSpecError, match="would share the folder method-baseline__name-a_b"):
        expand(spec)
