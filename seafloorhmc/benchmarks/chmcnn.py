"""C-HMCNN's per-dataset settings (Giunchiglia & Lukasiewicz 2020) and the configs built from them.

Every dataset uses a 3-layer MLP (ReLU, dropout 0.7), Adam with weight decay 1e-5, batch size 4,
a constant learning rate and a fixed number of epochs, trained on train ∪ valid (FUN/GO) or on
train ("others", which have no valid split); the test split is scored once at the end.
"""

from __future__ import annotations

__all__ = ["SETTINGS", "PUBLISHED_AU_PRC", "chmcnn_config", "reproduce"]

# dataset: (hidden width, learning rate, epochs)
SETTINGS: dict[str, tuple[int, float, int]] = {
    "cellcycle_FUN": (500, 1e-4, 106), "derisi_FUN": (500, 1e-4, 67), "eisen_FUN": (500, 1e-4, 110),
    "expr_FUN": (1250, 1e-4, 20), "gasch1_FUN": (1000, 1e-4, 42), "gasch2_FUN": (500, 1e-4, 123),
    "seq_FUN": (2000, 1e-4, 13), "spo_FUN": (250, 1e-4, 115),
    "cellcycle_GO": (1000, 1e-4, 62), "derisi_GO": (500, 1e-4, 91), "eisen_GO": (500, 1e-4, 123),
    "expr_GO": (4000, 1e-4, 70), "gasch1_GO": (500, 1e-4, 122), "gasch2_GO": (500, 1e-4, 177),
    "seq_GO": (9000, 1e-4, 45), "spo_GO": (500, 1e-4, 103),
    "Diatoms_others": (2000, 1e-5, 474), "Enron_others": (1000, 1e-5, 133),
    "ImCLEF07A_others": (1000, 1e-5, 592), "ImCLEF07D_others": (1000, 1e-5, 588),
}

# Published C-HMCNN AU(PRC), mean of 10 seeds (C-HMCNN README).
PUBLISHED_AU_PRC: dict[str, float] = {
    "cellcycle_FUN": 0.255, "derisi_FUN": 0.195, "eisen_FUN": 0.306, "expr_FUN": 0.302, "gasch1_FUN": 0.286,
    "gasch2_FUN": 0.258, "seq_FUN": 0.292, "spo_FUN": 0.215,
    "cellcycle_GO": 0.413, "derisi_GO": 0.370, "eisen_GO": 0.455, "expr_GO": 0.447, "gasch1_GO": 0.436,
    "gasch2_GO": 0.414, "seq_GO": 0.446, "spo_GO": 0.382,
    "Diatoms_others": 0.758, "Enron_others": 0.756, "ImCLEF07A_others": 0.956, "ImCLEF07D_others": 0.927,
}


def chmcnn_config(dataset: str) -> dict:
    """The plain-data config of C-HMCNN's protocol on ``dataset``.

    Args:
        dataset: A key of :data:`SETTINGS`.

    Returns:
        The config as plain data (``data.root`` left for ``--set``).
    """
    hidden, lr, epochs = SETTINGS[dataset]
    return {
        "name": f"chmcnn-{dataset}",
        "seed": 0,
        "data": {"format": "hmc", "dataset": dataset, "root": None, "train_on_val": True, "impute": "per_split"},
        "model": {"members": 1, "member_type": "ensemble", "hidden": hidden, "head_layers": 3, "dropout": 0.7},
        "loss": {"node_weights": "none", "uncertainty": "none", "reduction": "mean"},
        "train": {"epochs": epochs, "batch_size": 4, "optimizer": "adam", "lr": lr, "weight_decay": 1e-5,
                  "decay_norm_and_bias": True,
                  "lr_schedule": "constant", "warmup_epochs": 0, "progress": False},
    }


def reproduce(datasets, seeds, data_root, out_dir, overrides=()) -> list[dict]:
    """Train C-HMCNN's protocol on each dataset × seed and collect test AU(PRC) against the published value.

    Finished runs are reused.

    Args:
        datasets: Keys of :data:`SETTINGS`.
        seeds: Seeds per dataset.
        data_root: Folder with C-HMCNN's ``datasets_FUN`` / ``datasets_GO`` / ``datasets_others``.
        out_dir: Runs go to ``out_dir/<dataset>/seed<k>``.
        overrides: Further ``key=value`` config settings.

    Returns:
        One row per run: ``dataset``, ``seed``, ``au_prc``, ``published``, ``seconds``, ``run``.
    """
    import json
    import time
    from pathlib import Path

    from ..config import apply_overrides, config_from_dict
    from ..training import train

    rows = []
    for dataset in datasets:
        for seed in seeds:
            run = Path(out_dir) / dataset / f"seed{seed}"
            start = time.perf_counter()
            if not (run / "metrics.json").is_file():
                data = apply_overrides(chmcnn_config(dataset), [f"data.root={data_root}", f"seed={seed}", *overrides])
                train(config_from_dict(data), run, resume=(run / "checkpoints" / "last.json").is_file())
            metrics = json.loads((run / "metrics.json").read_text())
            rows.append({"dataset": dataset, "seed": seed, "au_prc": metrics["au_prc"],
                         "published": PUBLISHED_AU_PRC.get(dataset), "seconds": round(time.perf_counter() - start, 1),
                         "run": str(run)})
    return rows
