"""Run a model over a split and score it."""

from __future__ import annotations

import numpy as np
import torch

from .. import metrics as metrics_module


@torch.no_grad()
def collect_predictions(model, loader, loss_fn, device, autocast, dist, channels_last: bool = False) -> dict:
    """Constrained mean probabilities, targets, known masks and loss over a loader (all ranks)."""
    model.eval()
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(0)
    probs, targets, knowns, indices = [], [], [], []
    loss_sum, count = 0.0, 0
    for batch in loader:
        if batch["target"].shape[0] == 0:
            continue
        x = batch["image"].to(device, non_blocking=True)
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        target = batch["target"].to(device)
        known = batch["known"].to(device)
        with autocast():
            logits = model(x)
        logits = logits.float()
        loss_sum += loss_fn(logits, target, None if bool(known.all()) else known).item() * target.shape[0]
        count += target.shape[0]
        probs.append(model.predict_from_logits(logits).probs.cpu())
        targets.append(batch["target"])
        knowns.append(batch["known"])
        indices.append(torch.as_tensor(batch["index"]))
    n_nodes = len(model.taxonomy)
    cat = lambda xs, dtype: torch.cat(xs) if xs else torch.zeros((0, n_nodes), dtype=dtype)  # noqa: E731
    probs, targets, knowns = cat(probs, torch.float32), cat(targets, torch.float32), cat(knowns, torch.bool)
    indices = torch.cat(indices) if indices else torch.zeros(0, dtype=torch.long)
    loss_sum, count = dist.sum_floats(loss_sum, count)
    if dist.enabled:
        probs, targets = dist.gather_tensor(probs), dist.gather_tensor(targets)
        knowns, indices = dist.gather_tensor(knowns), dist.gather_tensor(indices)
    order = np.unique(indices.numpy(), return_index=True)[1]  # drop sampler padding, restore order
    return {"probs": probs[order], "targets": targets[order], "known": knowns[order], "index": indices[order],
            "loss": loss_sum / max(count, 1)}


def evaluate_split(model, loader, loss_fn, taxonomy, device, autocast, threshold, train_targets, dist,
                   channels_last: bool = False, keep_predictions: bool = False) -> dict:
    out = collect_predictions(model, loader, loss_fn, device, autocast, dist, channels_last)
    if out["probs"].shape[0] == 0:
        raise ValueError("the evaluation split is empty: nothing to score")
    scores = metrics_module.evaluate(out["probs"], out["targets"], taxonomy, known=out["known"],
                                     train_targets=train_targets, threshold=threshold)
    scores["loss"] = out["loss"]
    if keep_predictions:
        scores["_predictions"] = {k: out[k].numpy() for k in ("probs", "targets", "known", "index")}
    return scores
