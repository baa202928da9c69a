import csv
import random

import numpy as np
import pytest
import torch

from seafloorhmc import Taxonomy, TaxonomyError
from seafloorhmc.testing.reference import random_taxonomy


def reachability(tax: Taxonomy) -> np.ndarray:
    """Independent transitive closure: repeated boolean matrix products until stable."""
    n = len(tax)
    adj = np.eye(n, dtype=bool)
    for child, parents in enumerate(tax.parents):
        for p in parents:
            adj[p, child] = True
    closure = adj.copy()
    while True:
        nxt = (closure.astype(int) @ adj.astype(int)) > 0
        if (nxt == closure).all():
            return closure
        closure = nxt


def test_from_paths_builds_every_prefix(echinoderm_paths):
    tax = Taxonomy.from_paths(echinoderm_paths)
    assert len(tax) == 12
    assert tax.nodes[0] == "Biota"
    assert "Biota/Echinoderms/Sea urchins" in tax.index
    assert tax.names[tax.index["Biota/Echinoderms/Sea urchins/Regular urchins"]] == "Regular urchins"
    assert tax.depth[tax.index["Biota/Echinoderms/Sea urchins/Regular urchins"]] == 3
    assert tax.roots == [0]
    assert tax.is_tree
    leaves = {tax.nodes[i] for i in tax.leaves}
    assert leaves == set(echinoderm_paths)
    assert not tax.eval_mask[0] and tax.eval_mask[1:].all()


def test_from_paths_with_biigle_separator():
    tax = Taxonomy.from_paths(["Animalia > Annelida > Polychaeta", "Animalia > Echinodermata"], sep=" > ")
    assert tax.nodes == ["Animalia", "Animalia/Annelida", "Animalia/Echinodermata", "Animalia/Annelida/Polychaeta"]
    assert tax.resolve("Animalia > Annelida") == tax.index["Animalia/Annelida"]


def test_order_is_canonical_and_fingerprint_stable(echinoderm_paths):
    shuffled = echinoderm_paths[:]
    random.Random(0).shuffle(shuffled)
    a, b = Taxonomy.from_paths(echinoderm_paths), Taxonomy.from_paths(shuffled)
    assert a.nodes == b.nodes
    assert a.fingerprint() == b.fingerprint()
    c = Taxonomy.from_paths(echinoderm_paths + ["Biota/Corals"])
    assert c.fingerprint() != a.fingerprint()


@pytest.mark.parametrize("dag", [False, True])
def test_parents_come_before_children_and_descendants_match_closure(dag):
    tax = random_taxonomy(300, seed=3, dag=dag)
    for child, parents in enumerate(tax.parents):
        assert all(p < child for p in parents)
        if parents:
            assert tax.depth[child] == 1 + max(tax.depth[p] for p in parents)
    expected = reachability(tax)
    assert np.array_equal(tax.descendant_matrix().numpy(), expected)
    assert np.array_equal(tax.descendant_matrix(sparse=True).to_dense().numpy(), expected)
    assert tax.is_tree == (not dag)


def test_from_edges_keeps_ids_and_allows_dag():
    tax = Taxonomy.from_edges([("root", "GO1"), ("root", "GO2"), ("GO1", "GO3"), ("GO2", "GO3")])
    assert set(tax.nodes) == {"root", "GO1", "GO2", "GO3"}
    assert not tax.is_tree
    assert sorted(tax.nodes[p] for p in tax.parents[tax.index["GO3"]]) == ["GO1", "GO2"]
    assert set(tax.ancestors("GO3").tolist()) == {tax.index[n] for n in ["root", "GO1", "GO2", "GO3"]}


def test_cycle_is_reported_with_its_nodes():
    with pytest.raises(TaxonomyError, match=r"cycle.*b -> c -> d -> b|cycle.*c -> d -> b -> c|cycle.*d -> b -> c -> d"):
        Taxonomy.from_edges([("a", "b"), ("b", "c"), ("c", "d"), ("d", "b"), ("d", "e")])
    with pytest.raises(TaxonomyError, match="x.*own parent"):
        Taxonomy.from_edges([("x", "x")])


def test_duplicate_and_unknown_nodes_are_named():
    with pytest.raises(TaxonomyError, match="duplicate node id 'a'"):
        Taxonomy(["a", "a"], [])
    with pytest.raises(TaxonomyError, match="unknown node 'zz'"):
        Taxonomy(["a"], [("a", "zz")])


def write_labels_csv(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "parent_id", "color", "label_tree_id", "source_id"])
        writer.writerows(rows)


def test_from_biigle_label_table(tmp_path):
    path = tmp_path / "labels.csv"
    write_labels_csv(path, [
        [1, "Biota", "", "ff0000", 7, ""],
        [2, "Echinoderms", 1, "00ff00", 7, "1806"],
        [3, "Sea urchins", 2, "0000ff", 7, ""],
        [4, "Regular urchins", 3, "0000ff", 7, ""],
        [5, "Sponges", 1, "aaaaaa", 7, ""],
    ])
    tax = Taxonomy.from_csv(path)
    assert tax.nodes[0] == "Biota"
    assert "Biota/Echinoderms/Sea urchins/Regular urchins" in tax.index
    assert tax.external_ids["4"] == "Biota/Echinoderms/Sea urchins/Regular urchins"
    from_report = Taxonomy.from_paths(["Biota > Echinoderms > Sea urchins > Regular urchins", "Biota > Sponges"],
                                      sep=" > ")
    assert from_report.nodes == tax.nodes


@pytest.mark.parametrize(
    "rows, message",
    [
        ([[1, "A", ""], [1, "B", ""]], "row 3: duplicate label id '1'"),
        ([[1, "A", ""], [2, "B", 9]], "label '2' has unknown parent id '9'"),
        ([[1, "A", 3], [2, "B", 1], [3, "C", 2]], "cycle in label table"),
    ],
)
def test_label_table_errors_name_the_culprit(tmp_path, rows, message):
    path = tmp_path / "labels.csv"
    write_labels_csv(path, [r + ["", "", ""] for r in rows])
    with pytest.raises(TaxonomyError, match=message) as info:
        Taxonomy.from_csv(path)
    assert str(path) in str(info.value)


def test_encode_closes_ancestors_and_masks_unknown_descendants(echinoderm_paths):
    tax = Taxonomy.from_paths(echinoderm_paths)
    idx = tax.index
    target, known = tax.encode(["Biota/Echinoderms/Sea urchins"])
    positive = {tax.nodes[i] for i in torch.nonzero(target).flatten().tolist()}
    assert positive == {"Biota", "Biota/Echinoderms", "Biota/Echinoderms/Sea urchins"}
    for child in ["Biota/Echinoderms/Sea urchins/Irregular urchins", "Biota/Echinoderms/Sea urchins/Regular urchins"]:
        assert not known[idx[child]]
    assert known[idx["Biota/Echinoderms/Sea stars"]] and known[idx["Biota/Sponges"]]

    target, known = tax.encode(["Biota/Echinoderms/Sea urchins"], complete=True)
    assert known.all()

    # Two labels: a coarse one and a fine one under it; the fine one stays known and positive.
    target, known = tax.encode(["Biota/Echinoderms", "Biota/Echinoderms/Sea stars"], complete=[False, True])
    assert target[idx["Biota/Echinoderms/Sea stars"]] == 1 and known[idx["Biota/Echinoderms/Sea stars"]]
    assert not known[idx["Biota/Echinoderms/Sea urchins"]]
    assert not known[idx["Biota/Echinoderms/Ophiuroids/Brittle stars"]]


def test_encode_rejects_unknown_and_ambiguous_labels():
    tax = Taxonomy.from_paths(["A/x", "B/x"])
    with pytest.raises(TaxonomyError, match="unknown label 'C/y'"):
        tax.encode(["C/y"])
    with pytest.raises(TaxonomyError, match="'x' is ambiguous.*A/x.*B/x"):
        tax.encode(["x"])
    assert tax.resolve("A/x") == tax.index["A/x"]


def test_decode_returns_deepest_predicted_paths(echinoderm_paths):
    tax = Taxonomy.from_paths(echinoderm_paths)
    target, _ = tax.encode(["Biota/Echinoderms/Sea urchins/Regular urchins", "Biota/Sponges"])
    assert sorted(tax.decode(target)) == ["Biota/Echinoderms/Sea urchins/Regular urchins", "Biota/Sponges"]
    probs = target * 0.9 + 0.05
    assert sorted(tax.decode(probs, threshold=0.5)) == sorted(tax.decode(target))
    assert tax.decode(torch.zeros(len(tax))) == []


def test_round_trip_through_dict():
    tax = random_taxonomy(60, seed=5, dag=True)
    again = Taxonomy.from_dict(tax.to_dict())
    assert again == tax and again.fingerprint() == tax.fingerprint()


def test_names_with_the_id_separator_are_refused():
    with pytest.raises(TaxonomyError, match="'Sponges/Ascidians'"):
        Taxonomy.from_paths(["Biota > Sponges/Ascidians"], sep=" > ")


def test_a_taxonomy_change_lists_nodes_added_removed_and_moved():
    from seafloorhmc.taxonomy import describe_taxonomy_change, taxonomy_change

    old = Taxonomy.from_paths([("Biota", "Fishes", "Cod"), ("Biota", "Sponges"), ("Biota", "Worms")])
    new = Taxonomy.from_paths([("Biota", "Vertebrates", "Fishes", "Cod"), ("Biota", "Corals", "Soft"),
                               ("Biota", "Worms")])
    change = taxonomy_change(old, new)
    assert change.added == ["Biota/Corals", "Biota/Vertebrates"], "children of an added node are not repeated"
    assert change.removed == ["Biota/Sponges"]
    assert change.moved == [("Biota/Fishes", "Biota/Vertebrates/Fishes")], "Cod moved with its parent"
    assert describe_taxonomy_change(old, new, sep=" | ") == (
        "2 nodes added: Biota | Corals, Biota | Vertebrates; 1 removed: Biota | Sponges; "
        "1 moved: Biota | Fishes → Biota | Vertebrates | Fishes")
    assert taxonomy_change(old, old).empty


def test_a_dag_change_of_parents_is_a_move():
    from seafloorhmc.taxonomy import taxonomy_change

    old = Taxonomy.from_edges([("r", "a"), ("r", "b"), ("a", "c")])
    new = Taxonomy.from_edges([("r", "a"), ("r", "b"), ("b", "c")])
    assert taxonomy_change(old, new).moved == [("c", "c")]
