"""Run a model over a split and score it."""

from __future__ import annotations

import numpy as np
import torch

from .. import metrics as metrics_module


@torch.no_grad()
def collect_predictions(model, loader, loss_fn, device, autocast, dist, channels_last: bool = False,
                        forward=None) -> dict:
    """Constrained mean probabilities, targets, known masks and loss over a loader (all ranks).

    ``forward`` maps a batch's ``image`` to member logits (default ``model``; cached features use
    ``model.head_logits``)."""
    model.eval()
    forward = model if forward is None else forward
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(0)
    probs, targets, knowns, indices = [], [], [], []
    choices: dict[str, list] = {}  # per-level decisions of heads that decide per level (prototype head)
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
            logits = forward(x)
        logits = logits.float()
        loss = loss_fn(logits, target, None if bool(known.all()) else known).item()
        # weight each batch's mean by what it averaged over (the rare-node loss: known, evaluated
        # cells), so the split's loss does not depend on how rows fall into batches or ranks
        per_cell = hasattr(loss_fn, "eval_mask") and getattr(loss_fn, "reduction", None) == "mean"
        weight = int((batch["known"] & model.taxonomy.eval_mask).sum()) if per_cell else target.shape[0]
        loss_sum += loss * weight
        count += weight
        prediction = model.predict_from_logits(logits)
        probs.append(prediction.probs.cpu())
        for name, choice in prediction.level_choices.items():
            choices.setdefault(name, []).append(choice.cpu())
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
    choices = {name: torch.cat(parts) for name, parts in choices.items()}
    if dist.enabled:
        choices = {name: dist.gather_tensor(c) for name, c in choices.items()}
    order = np.unique(indices.numpy(), return_index=True)[1]  # drop sampler padding, restore order
    return {"probs": probs[order], "targets": targets[order], "known": knowns[order], "index": indices[order],
            "loss": loss_sum / max(count, 1), "level_choices": {name: c[order] for name, c in choices.items()}}


def evaluate_split(model, loader, loss_fn, taxonomy, device, autocast, threshold, train_targets, dist,
                   channels_last: bool = False, keep_predictions: bool = False, decoding: str = "independent",
                   forward=None) -> dict:
    """Metrics of ``model`` on ``loader``. Heads that decide per level are scored on their decided
    node sets, ``decoding`` unprefixed and the other decodings prefixed (see :mod:`seafloorhmc.decoding`)."""
    out = collect_predictions(model, loader, loss_fn, device, autocast, dist, channels_last, forward)
    if out["probs"].shape[0] == 0:
        raise ValueError("the evaluation split is empty: nothing to score")
    if out["level_choices"]:
        from ..decoding import evaluate_decodings

        scores = evaluate_decodings(out["probs"], out["targets"], taxonomy, out["level_choices"], known=out["known"],
                                    train_targets=train_targets, main=decoding)
    else:
        scores = metrics_module.evaluate(out["probs"], out["targets"], taxonomy, known=out["known"],
                                         train_targets=train_targets, threshold=threshold)
    scores["loss"] = out["loss"]
    if keep_predictions:
        scores["_predictions"] = {k: out[k].numpy() for k in ("probs", "targets", "known", "index")}
        for name, choice in out["level_choices"].items():
            scores["_predictions"][f"level_choices_{name}"] = choice.numpy()
    return scores
