"""Distributed training: rank sharding, loss scaling, collectives, and torchrun runs against one process.

Run as a script under torchrun this file is also the worker the resume test starts:
``torchrun --nproc_per_node=2 tests/engine/test_distributed.py OUT STOP_AFTER_EPOCH|resume KEY=VALUE ...``.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seafloorhmc.config import ConfigError, load_config
from seafloorhmc.data.dataset import TensorBatches
from seafloorhmc.data.loaders import RankBatches
from seafloorhmc.distributed import SINGLE_PROCESS, DistContext, global_mean_scale
from seafloorhmc.losses import RareNodeLoss
from seafloorhmc.taxonomy import Taxonomy
from seafloorhmc.utils.locks import LOCK_NAME

ROOT = Path(__file__).resolve().parents[2]


def _batches(n: int, batch_size: int, shuffle: bool) -> TensorBatches:
    features = torch.arange(n, dtype=torch.float32).unsqueeze(1)
    return TensorBatches(features, torch.zeros(n, 2), batch_size=batch_size, shuffle=shuffle, seed=3)


@pytest.mark.parametrize("n", [16, 11])
def test_ranks_split_every_global_batch_of_one_process(n):
    single = _batches(n, 4, shuffle=True)
    single.set_epoch(1)
    ranks = [RankBatches(_batches(n, 4, shuffle=True), r, 2) for r in range(2)]
    for r in ranks:
        r.set_epoch(1)
    per_rank = [list(r) for r in ranks]
    assert len(per_rank[0]) == len(per_rank[1]) == len(single), "every rank takes as many steps as one process"
    for step, batch in enumerate(single):
        parts = [p[step] for p in per_rank]
        assert all(len(p["index"]) == len(parts[0]["index"]) for p in parts), "equal local batches"
        together = sorted(torch.cat([p["index"] for p in parts]).tolist())
        if n % 2 == 0 or step < len(single) - 1:
            assert together == sorted(batch["index"].tolist())
        else:  # padding repeats the epoch's first row in the last batch
            assert set(together) == set(batch["index"].tolist()) | {int(single.order()[0])}
        for p in parts:
            assert torch.equal(p["image"][:, 0], p["index"].float()), "features travel with their rows"


def test_evaluation_shards_are_uneven_and_never_repeat_a_row():
    ranks = [RankBatches(_batches(11, 4, shuffle=False), r, 2) for r in range(2)]
    rows = [torch.cat([b["index"] for b in r]).tolist() for r in ranks]
    assert [len(r) for r in rows] == [6, 5] and sorted(rows[0] + rows[1]) == list(range(11))


def test_the_global_batch_must_divide_among_the_ranks(image_config, hmc_config):
    from seafloorhmc.datamodule import prepare_data

    with pytest.raises(ConfigError, match=r"train.batch_size=8 .* divisible by the 3 processes"):
        prepare_data(image_config()).loaders(image_config(), DistContext(rank=0, world_size=3))
    with pytest.raises(ConfigError, match=r"train.batch_size=4 .* divisible by the 3 processes"):
        prepare_data(hmc_config()).loaders(hmc_config(), DistContext(rank=0, world_size=3))
    loaders = prepare_data(image_config()).loaders(image_config(), DistContext(rank=1, world_size=2))
    assert loaders.train.batch_size == 4 and loaders.train.sampler.rank == 1
    assert SINGLE_PROCESS.per_rank_batch(7) == 7


def test_scaled_rank_losses_average_to_the_global_batch_gradient():
    tax = Taxonomy.from_paths(["a/b", "a/c", "d"])
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 6, len(tax), generator=gen)
    targets = (torch.rand(6, len(tax), generator=gen) > 0.5).float()
    known = torch.rand(6, len(tax), generator=gen) > 0.3  # partial labels: ranks count different cells
    loss_fn = RareNodeLoss(tax, uncertainty="bma")
    full = logits.clone().requires_grad_()
    loss_fn(full, targets, known).backward()
    halves = [slice(0, 3), slice(3, 6)]
    cells = [int((known[h] & tax.eval_mask).sum()) for h in halves]
    assert cells[0] != cells[1]
    grads = []
    for h, c in zip(halves, cells):
        part = logits[:, h].clone().requires_grad_()
        (loss_fn(part, targets[h], known[h]) * global_mean_scale(c, sum(cells), 2)).backward()
        grads.append(part.grad)
    averaged = torch.cat(grads, dim=1) / 2  # what DDP's all-reduce mean gives each rank
    torch.testing.assert_close(averaged, full.grad)
    assert global_mean_scale(0, 0, 2) == 0.0


# ---------------------------------------------------------------------- real process groups
def _collectives(rank: int, store_file: str, results: str) -> None:
    import torch.distributed as torch_dist

    torch_dist.init_process_group("gloo", init_method=f"file://{store_file}", rank=rank, world_size=2)
    ctx = DistContext(rank=rank, world_size=2, device=torch.device("cpu"))
    rows = torch.arange(3 if rank == 0 else 1, dtype=torch.float32).unsqueeze(1) + 10 * rank
    out = {
        "gathered": ctx.gather_tensor(rows).squeeze(1).tolist(),
        "bools": ctx.gather_tensor(torch.tensor([rank == 0] * (2 - rank))).tolist(),
        "sum": ctx.sum_floats(1.0 + rank, 2.0),
        "broadcast": ctx.broadcast_object(f"from rank {rank}"),
        "scale": ctx.loss_scale(30 if rank == 0 else 10),
    }
    Path(results, f"{rank}.json").write_text(json.dumps(out))
    torch_dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.dist
def test_collectives_gather_uneven_shards_across_two_processes(tmp_path):
    import torch.multiprocessing as mp

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(_collectives, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):
        out = json.loads((tmp_path / f"{rank}.json").read_text())
        assert out["gathered"] == [0.0, 1.0, 2.0, 10.0]
        assert out["bools"] == [True, True, False]
        assert out["sum"] == [3.0, 4.0]
        assert out["broadcast"] == "from rank 0"
        assert out["scale"] == pytest.approx(2 * (30 if rank == 0 else 10) / 40)


def _torchrun(args: list[str], cwd: Path, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"torchrun failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _assert_same_weights(a: Path, b: Path, tol: float = 1e-4) -> None:
    from safetensors.torch import load_file

    wa, wb = load_file(str(a)), load_file(str(b))
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=tol, atol=tol, msg=lambda m, key=key: f"{key}: {m}")


@pytest.fixture(scope="module")
def partial_images(tmp_path_factory):
    from seafloorhmc.testing import write_tiny_image_manifest

    return write_tiny_image_manifest(tmp_path_factory.mktemp("dist_images"), n_images=24, size=32, partial_every=3,
                                     with_split=False)  # splits drawn from data.val_fraction / test_fraction


def _overrides(manifest: Path, *extra: str) -> list[str]:
    """A run two processes can match exactly: no dropout, no BatchNorm in the trainable encoder,
    partial labels (so the ranks' loss scales differ)."""
    return ["data.format=manifest", f"data.annotations={manifest}", "data.image_size=32", "model.encoder=test_vit",
            "model.members=3", "model.hidden=16", "model.dropout=0", "train.epochs=2", "train.batch_size=8",
            "train.progress=false", "train.lr=0.003", "data.augment=false", "loss.node_weights=class-wise",
            "loss.uncertainty=bma", "train.device=cpu", *extra]


@pytest.mark.slow
@pytest.mark.dist
def test_torchrun_two_processes_equal_one_with_the_same_global_batch(partial_images, tmp_path):
    from seafloorhmc.training import train

    # 16 training images (no padding), 3 validation and 5 test images: evaluation shards are uneven
    overrides = _overrides(partial_images, "data.val_fraction=0.125", "data.test_fraction=0.21")
    (tmp_path / "config.yaml").write_text("name: dist\n")
    sets = [arg for o in overrides for arg in ("--set", o)]
    result = _torchrun(["-m", "seafloorhmc.cli", "train", "config.yaml", *sets, "--out", "two"], cwd=tmp_path)
    assert result.stdout.count("test metrics") == 1, "only rank 0 prints"
    one = train(load_config(None, overrides), tmp_path / "one")
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert [two["data"][s] for s in ("train", "val", "test")] == [16, 3, 5]
    for key in ("au_prc", "f1", "recall", "loss"):
        assert two[key] == pytest.approx(one[key], rel=1e-4, abs=1e-5), key
    log_one, log_two = ((tmp_path / r / "log.csv").read_text().splitlines() for r in ("one", "two"))
    for row_one, row_two in zip(log_one[1:], log_two[1:]):
        values = lambda row: [float(v) for v in row.split(",")[:7]]  # noqa: E731 - up to lr, no timings
        assert values(row_two) == pytest.approx(values(row_one), rel=1e-4, abs=1e-5)
    _assert_same_weights(tmp_path / "one" / "model.safetensors", tmp_path / "two" / "model.safetensors")
    written = sorted(p.name for p in (tmp_path / "two").iterdir())
    assert not [name for name in written if name.startswith(".") and name != LOCK_NAME], \
        f"leftover temporary files: {written}"


@pytest.mark.slow
@pytest.mark.dist
def test_a_two_process_run_resumes_on_one_process(partial_images, tmp_path):
    """Epoch 1 on two processes (frozen encoder: head-only DDP on cached features), epoch 2 on one."""
    from seafloorhmc.training import train

    overrides = _overrides(partial_images, "model.encoder=test_resnet", "model.freeze=true",
                           f"data.feature_cache={tmp_path / 'cache'}")
    _torchrun([str(Path(__file__).resolve()), str(tmp_path / "resumed"), "0", *overrides], cwd=tmp_path)
    assert not (tmp_path / "resumed" / "metrics.json").exists()
    resumed = train(load_config(None, overrides), tmp_path / "resumed", resume=True)
    straight = train(load_config(None, overrides), tmp_path / "straight")
    assert resumed["data"]["feature_cache"]["encoded"] == 0, "the ranks' cache serves the later runs"
    for key in ("au_prc", "f1", "loss"):
        assert resumed[key] == pytest.approx(straight[key], rel=1e-4, abs=1e-5), key
    _assert_same_weights(tmp_path / "straight" / "model.safetensors", tmp_path / "resumed" / "model.safetensors")


@pytest.mark.slow
@pytest.mark.dist
def test_a_one_process_run_resumes_on_two_processes(partial_images, tmp_path):
    """Epoch 1 on one process (trainable encoder: the whole model under DDP afterwards), epoch 2 on two."""
    from seafloorhmc.training import train

    overrides = _overrides(partial_images)
    assert train(load_config(None, overrides), tmp_path / "resumed", stop_after_epoch=0) is None
    _torchrun([str(Path(__file__).resolve()), str(tmp_path / "resumed"), "resume", *overrides], cwd=tmp_path)
    straight = train(load_config(None, overrides), tmp_path / "straight")
    resumed = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    for key in ("au_prc", "f1", "loss"):
        assert resumed[key] == pytest.approx(straight[key], rel=1e-4, abs=1e-5), key
    _assert_same_weights(tmp_path / "straight" / "model.safetensors", tmp_path / "resumed" / "model.safetensors")


def _worker(argv: list[str]) -> None:
    """torchrun entry point: train ``argv[2:]`` overrides into ``argv[0]``, stopping after epoch
    ``argv[1]``, or (``argv[1]`` = ``resume``) resuming the run there to its end."""
    from seafloorhmc.distributed import init_from_env, shutdown
    from seafloorhmc.training import train

    out, mode, overrides = argv[0], argv[1], argv[2:]
    dist = init_from_env("cpu")
    try:
        if mode == "resume":
            train(load_config(None, overrides), out, resume=True, dist=dist)
        else:
            train(load_config(None, overrides), out, stop_after_epoch=int(mode), dist=dist)
    finally:
        shutdown(dist)


if __name__ == "__main__":
    _worker(sys.argv[1:])
