"""HMC ARFF reader and dataset loader, on small hand-written files in C-HMCNN's layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seafloorhmc.data.arff import (
    ArffSplit,
    build_taxonomy,
    closed_targets,
    fit_preprocessor,
    infer_is_go,
    load_hmc_dataset,
    read_arff,
)
from seafloorhmc.data.readers import AnnotationFormatError

FUN_HEADER = """% a FunCat-style toy
@RELATION 'toy.names'

@ATTRIBUTE a                numeric
@ATTRIBUTE colour           {red, green}
@ATTRIBUTE 'b value'        NUMERIC
@ATTRIBUTE class            hierarchical 01,01/01,01/02,02,02/01,02/01/05
@DATA
"""
FUN_ROWS = """1.5,red,2,01/01@02/01/05
?,green,-1,02 % a comment
3,blue,?,01/01@01/01
"""
GO_HEADER = """@relation go_toy
@attribute x numeric
@attribute class hierarchical root/GO0003674,root/GO0008150,GO0003674/GO1,GO0008150/GO2,GO1/GO3,GO2/GO3
@data
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_fun_file(tmp_path: Path):
    split = read_arff(write(tmp_path / "toy.arff", FUN_HEADER + FUN_ROWS))
    assert isinstance(split, ArffSplit) and not split.is_go and len(split) == 3
    assert split.feature_names == ["a", "colour=red", "colour=green", "b value"]
    expected = np.array([[1.5, 1, 0, 2], [np.nan, 0, 1, -1], [3, 0, 0, np.nan]])  # "blue" is unknown → zeros
    np.testing.assert_array_equal(split.X, expected)
    assert split.X.dtype == np.float64
    assert split.labels == [["01/01", "02/01/05"], ["02"], ["01/01"]]
    assert split.hierarchy == [("root", "01"), ("01", "01/01"), ("01", "01/02"), ("root", "02"), ("02", "02/01"),
                               ("02/01", "02/01/05")]
    assert split.relation == "toy.names"
    tax = split.taxonomy()
    assert tax.nodes == ["root", "01", "02", "01/01", "01/02", "02/01", "02/01/05"]
    assert tax.eval_mask.tolist() == [False] + [True] * 6


def test_go_file_is_inferred_and_closed_over_the_dag(tmp_path: Path):
    split = read_arff(write(tmp_path / "go.arff", GO_HEADER + "0.5,GO3\n1,GO2@GO0003674\n"))
    assert split.is_go and split.labels == [["GO3"], ["GO2", "GO0003674"]]
    tax = split.taxonomy()
    excluded = {tax.nodes[i] for i in range(len(tax)) if not tax.eval_mask[i]}
    assert excluded == {"root", "GO0003674", "GO0008150"}  # GO0005575 is absent here
    targets = closed_targets(split.labels, tax)
    on = [{tax.nodes[j] for j in np.flatnonzero(row)} for row in targets]
    assert on == [{"GO3", "GO1", "GO2", "GO0003674", "GO0008150", "root"},
                  {"GO2", "GO0008150", "GO0003674", "root"}]
    assert targets.dtype == np.float32


def test_is_go_inference_and_override():
    assert infer_is_go(["root/GO1", "GO1/GO2"])
    assert not infer_is_go(["01", "01/01"])
    assert not infer_is_go(["000/00", "000"])  # Diatoms-style paths: no root pairs
    tax = build_taxonomy([("a", "b")], is_go=True)
    assert tax.eval_mask.tolist() == [True, True]  # nothing named like C-HMCNN's roots


def test_forcing_go_on_paths_is_an_error(tmp_path: Path):
    path = write(tmp_path / "toy.arff", FUN_HEADER + FUN_ROWS)
    with pytest.raises(AnnotationFormatError, match=r"toy\.arff:7: GO hierarchy entry '01' is not a parent/child pair"):
        read_arff(path, is_go=True)


@pytest.mark.parametrize("rows, line, column, words", [
    ("1,red,2,01/03\n", 9, "class", "label '01/03' is not in the declared hierarchy"),
    ("1,red,2\n", 9, None, "row has 3 fields, expected 4"),
    ("1,red,x2,01\n", 9, "b value", "'x2' is not a number"),
    ("1,red,2,01\n1,red,2,\n", 10, "class", "row has no class labels"),
    ("{0 1, 3 01}\n", 9, None, "sparse ARFF"),
])
def test_bad_rows_name_file_line_and_culprit(tmp_path: Path, rows, line, column, words):
    path = write(tmp_path / "toy.arff", FUN_HEADER + rows)  # the header is 8 lines: first row = line 9
    with pytest.raises(AnnotationFormatError) as err:
        read_arff(path)
    assert (err.value.file, err.value.row, err.value.column) == (str(path), line, column)
    assert words in str(err.value)


@pytest.mark.parametrize("text, words", [
    ("", "the file is empty"),
    ("@relation x\n@attribute a numeric\n@data\n1\n", "exactly one 'hierarchical' class attribute, found 0"),
    ("@relation x\n@attribute a numeric\n@attribute class hierarchical 01\n", "no @DATA section"),
    ("@relation x\n@attribute a string\n@attribute class hierarchical 01\n@data\n", "unsupported type 'string'"),
    ("@relation x\nhello\n", "unexpected line before @DATA"),
    ("@relation x\n@attribute class hierarchical 01\n@data\n\n", "no data rows"),
    ("@relation x\n@attribute class hierarchical 01//02\n@data\n01\n", "empty component"),
])
def test_bad_files(tmp_path: Path, text, words):
    path = write(tmp_path / "bad.arff", text)
    with pytest.raises(AnnotationFormatError, match=words) as err:
        read_arff(path)
    assert str(path) in str(err.value)


def test_missing_file(tmp_path: Path):
    with pytest.raises(AnnotationFormatError, match=r"nope\.arff: cannot read ARFF file"):
        read_arff(tmp_path / "nope.arff")


@pytest.fixture
def fun_root(tmp_path: Path) -> Path:
    folder = tmp_path / "HMC_data" / "datasets_FUN" / "toy_FUN"
    write(folder / "toy_FUN.train.arff", FUN_HEADER + FUN_ROWS)
    write(folder / "toy_FUN.valid.arff", FUN_HEADER + "5,green,4,01/02\n")
    write(folder / "toy_FUN.test.arff", FUN_HEADER + "0,red,0,02/01\n7,red,1,01\n")
    return tmp_path


def test_load_fun_dataset(fun_root: Path):
    ds = load_hmc_dataset(fun_root, "TOY_fun")  # case-insensitive, found under HMC_data/
    assert ds.name == "toy_FUN" and not ds.is_go
    assert (len(ds.train), len(ds.valid), len(ds.test), ds.num_features, ds.num_eval_nodes) == (3, 1, 2, 4, 6)
    nodes = ds.taxonomy.nodes
    assert nodes == ["root", "01", "02", "01/01", "01/02", "02/01", "02/01/05"]
    #                                 root 01 02 0101 0102 0201 020105
    np.testing.assert_array_equal(ds.targets("test"), [[1, 0, 1, 0, 0, 1, 0],
                                                       [1, 1, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(ds.targets("train")[0], [1, 1, 1, 1, 0, 1, 1])
    assert ds.targets("test") is ds.targets("test")  # cached
    assert "toy_FUN: 7 nodes (6 evaluated), 4 features, train/valid/test 3/1/2" in repr(ds)


def test_load_others_dataset_without_valid(tmp_path: Path):
    write(tmp_path / "others" / "Toy_train.arff", FUN_HEADER + FUN_ROWS)
    write(tmp_path / "others" / "Toy_test.arff", FUN_HEADER + "0,red,0,02\n")
    write(tmp_path / "others" / "Toyota_train.arff", "not read")
    ds = load_hmc_dataset(tmp_path, "toy_others")
    assert ds.name == "Toy_others" and ds.valid is None and len(ds.fit_rows()) == 1
    with pytest.raises(ValueError, match="no valid split"):
        ds.split("valid")


def test_load_others_with_a_tag(tmp_path: Path):
    write(tmp_path / "others" / "Enron_corr_trainvalid.arff", FUN_HEADER + FUN_ROWS)
    write(tmp_path / "others" / "Enron_corr_test.arff", FUN_HEADER + "0,red,0,02\n")
    assert len(load_hmc_dataset(tmp_path, "enron_others").train) == 3


def test_missing_files_list_what_was_looked_for(tmp_path: Path, fun_root: Path):
    with pytest.raises(FileNotFoundError) as err:
        load_hmc_dataset(tmp_path, "toy_GO")
    assert "datasets_GO/toy_GO/toy_GO.{train,valid,test}.arff" in str(err.value)
    with pytest.raises(ValueError, match="should look like 'cellcycle_FUN'"):
        load_hmc_dataset(tmp_path, "toy")


def test_splits_must_share_the_hierarchy(fun_root: Path):
    test_file = fun_root / "HMC_data" / "datasets_FUN" / "toy_FUN" / "toy_FUN.test.arff"
    write(test_file, FUN_HEADER.replace(",02/01/05", "") + "0,red,0,02\n")
    with pytest.raises(AnnotationFormatError, match=r"toy_FUN\.test\.arff: declares a different hierarchy"):
        load_hmc_dataset(fun_root, "toy_FUN")


def test_preprocessor_train_imputation():
    train = np.array([[1.0, np.nan], [3.0, 4.0]])
    valid = np.array([[5.0, 8.0]])
    pre = fit_preprocessor([train, valid])
    # means (3, 6); the NaN becomes 6; stds: col0 std(1,3,5)=sqrt(8/3), col1 std(6,4,8)=sqrt(8/3)
    s = np.sqrt(8 / 3)
    np.testing.assert_allclose(pre.transform(np.array([[np.nan, np.nan], [3.0, 10.0]])),
                               [[0.0, 0.0], [0.0, 4 / s]], rtol=1e-6)
    assert pre.transform(train).dtype == np.float32


def test_preprocessor_per_split_imputation_matches_c_hmcnn():
    train = np.array([[1.0, np.nan], [3.0, 4.0]])
    pre = fit_preprocessor(train, impute="per_split")
    # fit: train's NaN ← its own mean 4 → column 1 is constant (std → 1), column 0 mean 2 std 1
    test = np.array([[np.nan, 10.0], [4.0, 20.0]])
    # test's NaN ← the test column mean 4 (not train's 2)
    np.testing.assert_allclose(pre.transform(test), [[2.0, 6.0], [2.0, 16.0]])
    with pytest.raises(ValueError, match="impute must be one of"):
        fit_preprocessor(train, impute="global")
