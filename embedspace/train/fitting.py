"""What the encoder trainers (``text_encoder``, ``image_encoder``) share: a held-out split by
group, a retrieval score to pick the epoch kept, the loss that knows repeated groups, and a
loop that stops early and keeps the best weights when interrupted (Ctrl-C)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.errors import EmbedspaceError, InvalidInput, MissingExtra
from embedspace.progress import ProgressCallback, report

log = logging.getLogger("embedspace")

#: ``on_epoch(epoch, train_loss, validation_score)`` after every epoch (epoch 0: the
#: starting encoder, before any training, with ``nan`` as its loss).
EpochCallback = Callable[[int, float, float], None]


def torch_module(task: str) -> Any:
    """``torch``, or ``MissingExtra`` saying how to install it."""
    try:
        import torch
    except ImportError:
        raise MissingExtra(task, "torch", "torch") from None
    return torch


def check_fraction(fraction: float) -> None:
    """Refuse a validation share outside [0, 0.5)."""
    if not 0 <= fraction < 0.5:
        raise InvalidInput("validation must be a fraction of at least 0 and below 0.5 (e.g. 0.1).")


def held_out(
    groups: np.ndarray, fraction: float, seed: int, *, whole_groups: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, validation)``: about ``fraction`` of the groups go to
    validation whole (``whole_groups``), or else about ``fraction`` of the rows (none when
    ``fraction`` is 0 or there are too few)."""
    check_fraction(fraction)
    rng = np.random.default_rng(seed)
    if not whole_groups:
        count = int(round(len(groups) * fraction)) if len(groups) >= 4 else 0
        count = max(1, count) if fraction > 0 and len(groups) >= 4 else count
        order = rng.permutation(len(groups))
        return np.sort(order[count:]), np.sort(order[:count])
    unique = np.unique(groups)
    count = int(round(len(unique) * fraction))
    if fraction > 0 and len(unique) >= 4:
        count = max(1, count)
    chosen = set(rng.permutation(unique)[:count].tolist())
    rows = np.arange(len(groups))
    mask = np.fromiter((g in chosen for g in groups.tolist()), bool, len(groups))
    return rows[~mask], rows[mask]


def reciprocal_rank(
    queries: np.ndarray,
    query_groups: np.ndarray,
    corpus: np.ndarray,
    corpus_groups: np.ndarray,
    *,
    k: int = 10,
    skip: np.ndarray | None = None,
) -> float:
    """Mean reciprocal rank at ``k`` (0 past ``k``) of the first corpus row sharing each
    query's group, by dot product of unit vectors. ``skip[i]``: the corpus row that is
    query i itself (not an answer)."""
    scores = queries @ corpus.T
    if skip is not None:
        scores[np.arange(len(skip)), skip] = -np.inf
    k = min(k, corpus.shape[0])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, 1), 1), 1)
    hits = (corpus_groups[order] == query_groups[:, None]) & np.isfinite(
        np.take_along_axis(scores, order, 1)
    )
    first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, np.inf)
    return float(np.mean(1.0 / first))


def grouped_loss(
    torch: Any, scores: Any, row_groups: Any, column_groups: Any, *, exclude_self: bool = False
) -> Any:
    """Cross-entropy of ``scores`` (rows x columns) where every column of a row's group is
    a right answer (repeated groups in a batch are not false negatives). Columns whose
    group is ``-1`` (hard negatives) are never right. ``exclude_self``: rows and columns
    are the same items (supervised contrastive), so the diagonal is neither an answer nor
    a candidate, and rows without another item of their group are left out."""
    same = (row_groups[:, None] == column_groups[None, :]).float()
    if exclude_self:
        eye = torch.eye(len(row_groups), dtype=torch.bool)
        same = same.masked_fill(eye, 0.0)
        scores = scores.masked_fill(eye, -1e4)
    counts = same.sum(dim=1, keepdim=True)
    target = same / counts.clamp(min=1.0)
    losses = torch.sum(-target * scores.log_softmax(dim=1), dim=1)
    return losses[counts.squeeze(1) > 0].mean()


@dataclass
class Outcome:
    """What the loop did: evaluations by epoch, the epoch kept, and whether it was cut
    short by Ctrl-C."""

    scores: list[float] = field(default_factory=list)
    best_epoch: int = 0
    epochs_run: int = 0
    steps: int = 0
    interrupted: bool = False

    @property
    def best_score(self) -> float:
        """The validation score of the epoch kept."""
        return self.scores[self.best_epoch]

    def fields(self, seconds: float) -> dict[str, Any]:
        """The fields of ``TrainingReport`` that the loop knows."""
        return {
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "steps": self.steps,
            "score_before": self.scores[0],
            "score_after": self.best_score,
            "seconds": seconds,
            "interrupted": self.interrupted,
        }

    def summary(self, seconds: float) -> dict[str, Any]:
        """What a model folder's JSON records about its training."""
        return {
            "validation_mrr_at_10_before": round(self.scores[0], 6),
            "validation_mrr_at_10": round(self.best_score, 6),
            "best_epoch": self.best_epoch,
            "epochs_run": self.epochs_run,
            "interrupted": self.interrupted,
            "seconds": round(seconds, 1),
        }


@dataclass(frozen=True)
class TrainingReport:
    """What an encoder trainer did: where the model is, the epochs, and the validation
    mean reciprocal rank@10 of the starting encoder and of the epoch kept."""

    path: Path
    epochs_run: int
    best_epoch: int
    steps: int
    score_before: float
    score_after: float
    seconds: float
    interrupted: bool


def fit_loop(
    torch: Any,
    module: Any,
    batches: Callable[[int], Iterator[Any]],
    steps_per_epoch: int,
    evaluate: Callable[[], float],
    *,
    epochs: int,
    patience: int,
    learning_rate: float,
    weight_decay: float = 0.01,
    warmup: float = 0.1,
    train_mode: Callable[[], None] | None = None,
    parameter_groups: list[dict[str, Any]] | None = None,
    keep_start: bool = True,
    on_epoch: EpochCallback | None = None,
    on_progress: ProgressCallback | None = None,
    stage: str = "Training",
) -> Outcome:
    """Train ``module`` with AdamW (linear warm-up, then linear decay) on the losses that
    ``batches(epoch)`` yields; evaluate before training and after every epoch (higher is
    better), stop after ``patience`` epochs without a better score, and leave the best
    weights in ``module`` (the starting ones if no epoch beat them, unless not
    ``keep_start``: a new, untrained head cannot be kept). Ctrl-C stops the
    loop and keeps the best weights so far (``Outcome.interrupted``). ``parameter_groups``:
    AdamW's groups (e.g. a smaller rate for unfrozen layers), else every trainable one."""
    parameters = parameter_groups or [p for p in module.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay)
    total = max(1, epochs * steps_per_epoch)
    warm = max(1, int(total * warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    outcome = Outcome()
    module.eval()
    outcome.scores.append(evaluate())
    best_state = _snapshot(module)
    if on_epoch is not None:
        on_epoch(0, math.nan, outcome.scores[0])
    try:
        for epoch in range(1, epochs + 1):
            (train_mode or module.train)()
            losses = []
            for loss in batches(epoch):
                if not torch.isfinite(loss):
                    raise EmbedspaceError(
                        f"Training diverged in epoch {epoch} (the loss is {float(loss)}). "
                        "Lower the learning rate, or raise the temperature."
                    )
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
                losses.append(float(loss.detach()))
                outcome.steps += 1
                report(on_progress, stage, outcome.steps, total)
            if not losses:
                raise InvalidInput(
                    "No training batch could be made (too few examples per batch): give "
                    "more examples, or lower the validation share or the group size."
                )
            module.eval()
            outcome.scores.append(evaluate())
            outcome.epochs_run = epoch
            if on_epoch is not None:
                on_epoch(epoch, float(np.mean(losses)) if losses else math.nan, outcome.scores[-1])
            first = not keep_start and outcome.best_epoch == 0
            if first or outcome.scores[-1] > outcome.best_score + 1e-6:
                outcome.best_epoch = epoch
                best_state = _snapshot(module)
            elif epoch - outcome.best_epoch >= patience:
                break
    except KeyboardInterrupt:
        if not keep_start and outcome.best_epoch == 0:
            raise  # nothing trained is worth keeping yet
        outcome.interrupted = True
        log.warning(
            "Interrupted after %d epochs: keeping the best so far (epoch %d).",
            outcome.epochs_run,
            outcome.best_epoch,
        )
    module.load_state_dict(best_state)
    module.eval()
    return outcome


def _snapshot(module: Any) -> dict[str, Any]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}
