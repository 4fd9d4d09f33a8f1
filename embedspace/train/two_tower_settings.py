"""The hyper-parameters of two-tower training, in a module of their own: the trainer
(``two_tower``) and the fitting loop (``two_tower_fit``) both read them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TwoTowerSettings:
    """Hyper-parameters of ``train_two_tower`` (the CLI exposes each one)."""

    dim: int = 64
    id_dim: int = 64
    hidden: int = 128
    epochs: int = 30
    batch_size: int = 512
    learning_rate: float = 3e-3
    weight_decay: float = 1e-6
    temperature: float = 0.1
    logq: bool = True
    negatives: int = 0
    id_dropout: float = 0.1
    history: bool = True
    patience: int = 4
    refit: bool = True  # after early stopping, retrain on all training data for the best epochs
    split: str = "leave-last-out"
    test_fraction: float = 0.2
    k: int = 10
    seed: int = 0
