"""What the encoder trainers share (train/fitting.py) and the readers of their data
(io/training_data.py): splits, scores, losses, early stopping, Ctrl-C, table and folder
formats, with tiny deterministic data."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedspace.errors import InvalidInput
from embedspace.io.training_data import read_labelled_images, read_text_examples
from embedspace.train.fitting import fit_loop, grouped_loss, held_out, reciprocal_rank
from embedspace.train.text_encoder import pairs_from_examples, pairs_from_labels

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")


def _table(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_held_out_keeps_groups_whole_or_splits_rows() -> None:
    groups = np.repeat(np.arange(20), 3)
    train, valid = held_out(groups, 0.2, seed=1)
    assert len(set(groups[train]) & set(groups[valid])) == 0
    assert len(set(groups[valid])) == 4 and len(train) + len(valid) == 60
    train, valid = held_out(groups, 0.2, seed=1, whole_groups=False)
    assert len(valid) == 12 and sorted([*train, *valid]) == list(range(60))
    assert held_out(groups, 0.0, seed=1)[1].size == 0
    with pytest.raises(InvalidInput, match="fraction"):
        held_out(groups, 0.7, seed=1)


def test_reciprocal_rank_counts_the_first_right_answer() -> None:
    corpus = np.eye(3, dtype=np.float32)
    queries = np.array([[1, 0, 0], [0.1, 0.9, 0], [0, 0.6, 0.4]], np.float32)
    # query 0 -> group 0 at rank 1; query 1 -> group 2 at rank 3 (after 1 and 0);
    # query 2 -> group 2 at rank 2 (after group 1).
    groups = np.array([0, 1, 2])
    score = reciprocal_rank(queries, np.array([0, 2, 2]), corpus, groups)
    assert score == pytest.approx((1 + 1 / 3 + 1 / 2) / 3)
    # skip: a query that is corpus row 0 does not find itself
    assert reciprocal_rank(corpus[:1], np.array([0]), corpus, groups, skip=np.array([0])) == 0


def test_grouped_loss_treats_repeated_groups_as_answers_and_skips_self() -> None:
    scores = torch.tensor([[9.0, 5.0, -5.0], [5.0, 9.0, -5.0], [-5.0, -5.0, 9.0]])
    groups = torch.tensor([0, 0, 1])
    # Plain: rows 0 and 1 have two right columns each, weighted half and half.
    log_p = scores.log_softmax(dim=1)
    expected = (
        -(log_p[0, 0] + log_p[0, 1]) / 2 - (log_p[1, 0] + log_p[1, 1]) / 2 - log_p[2, 2]
    ) / 3
    assert float(grouped_loss(torch, scores, groups, groups)) == pytest.approx(float(expected))
    # exclude_self: the diagonal is neither answer nor candidate, so rows 0 and 1 each
    # have one candidate left, their right answer (loss 0); row 2 has no other item of
    # its group and is left out.
    alone = grouped_loss(torch, scores, groups, groups, exclude_self=True)
    assert float(alone) == pytest.approx(0.0, abs=1e-4)
    # A hard negative (group -1) is a candidate but never an answer.
    two = torch.tensor([[9.0, 9.0]])
    with_negative = grouped_loss(torch, two, torch.tensor([0]), torch.tensor([0, -1]))
    assert float(with_negative) == pytest.approx(float(torch.log(torch.tensor(2.0))))


def _toy(torch: Any) -> tuple[Any, Any, Any]:
    """A 2-d linear map that should learn to send x to its label's direction."""
    module = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        module.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))  # starts wrong
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]] * 4)
    target = torch.tensor([0, 1] * 4)
    return module, x, target


def test_fit_loop_keeps_the_best_epoch_and_survives_ctrl_c() -> None:
    torch.manual_seed(0)
    module, x, target = _toy(torch)

    def evaluate() -> float:
        with torch.no_grad():
            return float((module(x).argmax(1) == target).float().mean())

    def batches(epoch: int) -> Any:
        if epoch == 3:
            raise KeyboardInterrupt
        for _ in range(10):
            yield torch.nn.functional.cross_entropy(module(x), target)

    seen: list[tuple[int, float]] = []
    outcome = fit_loop(
        torch,
        module,
        batches,
        10,
        evaluate,
        epochs=5,
        patience=5,
        learning_rate=0.1,
        on_epoch=lambda epoch, loss, score: seen.append((epoch, score)),
    )
    assert outcome.interrupted and outcome.epochs_run == 2
    assert seen[0] == (0, 0.0) and outcome.best_score == 1.0 and outcome.best_epoch >= 1
    assert evaluate() == 1.0  # the best weights are in the module


def test_fit_loop_stops_early_and_restores_the_start_when_nothing_helps() -> None:
    module, x, target = _toy(torch)
    with torch.no_grad():
        module.weight.copy_(torch.eye(2))  # already right
    start = module.weight.detach().clone()

    def batches(epoch: int) -> Any:  # training that only makes things worse
        yield -torch.nn.functional.cross_entropy(module(x), target)

    def evaluate() -> float:
        with torch.no_grad():
            return -float(torch.nn.functional.cross_entropy(module(x), target))

    outcome = fit_loop(
        torch, module, batches, 1, evaluate, epochs=10, patience=2, learning_rate=0.5
    )
    assert outcome.best_epoch == 0 and outcome.epochs_run == 2
    assert torch.equal(module.weight, start)


def test_pairs_from_examples_and_labels() -> None:
    made = pairs_from_examples(["q1", "q2", "q3"], ["a", "b", "a"], ["x", None, ""])
    assert made.groups.tolist() == [0, 1, 0] and made.negatives == ["x", None, None]
    with pytest.raises(InvalidInput, match="Pair 2 has an empty text"):
        pairs_from_examples(["q1", " "], ["a", "b"])
    labelled = pairs_from_labels(["a", "b", "c", "d", "e"], ["x", "x", "y", "y", "z"])
    assert len(labelled.anchors) == 4  # 'z' has one sentence: no pair
    for anchor, positive, group in zip(
        labelled.anchors, labelled.positives, labelled.groups, strict=True
    ):
        assert anchor != positive and {anchor, positive} <= (
            {"a", "b"} if group == 0 else {"c", "d"}
        )
    with pytest.raises(InvalidInput, match="two labels"):
        pairs_from_labels(["a", "b", "c"], ["x", "x", "y"])


def test_text_tables_of_pairs_or_labels(tmp_path: Path) -> None:
    pairs = _table(tmp_path / "p.csv", ["question", "answer", "negative"], [["q", "a", ""]])
    found = read_text_examples(pairs)
    assert (found.anchors, found.positives, found.negatives) == (["q"], ["a"], [None])
    labels = _table(tmp_path / "l.csv", ["text", "label"], [["t", "x"]])
    assert read_text_examples(labels).labels == ["x"]
    empty = _table(tmp_path / "e.csv", ["query", "positive"], [["q", "a"], ["", "b"]])
    with pytest.raises(InvalidInput, match=r"row 3: the 'query' value is empty"):
        read_text_examples(empty)
    other = _table(tmp_path / "o.csv", ["a", "b"], [["1", "2"]])
    with pytest.raises(InvalidInput, match="query and positive columns"):
        read_text_examples(other)


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 10, 10)).save(path)


def test_labelled_images_from_class_folders_and_tables(tmp_path: Path) -> None:
    for name in ("boots/1.png", "boots/deeper/2.png", "shoes/3.png", ".hidden/4.png"):
        _png(tmp_path / "classes" / name)
    images, labels = read_labelled_images(tmp_path / "classes")
    assert labels == ["boots", "boots", "shoes"] and all(Path(i).is_file() for i in images)

    _png(tmp_path / "loose" / "a.png")
    with pytest.raises(InvalidInput, match=r"1 images lie loose in it"):
        read_labelled_images(tmp_path / "loose")

    for name in ("a.png", "b.png", "c.png", "d.png"):
        _png(tmp_path / "shop" / name)
    table = _table(
        tmp_path / "shop" / "same.csv", ["image", "same"], [["a.png", "b.png"], ["b.png", "c.png"]]
    )
    images, labels = read_labelled_images(table)
    assert [Path(i).name for i in images] == ["a.png", "b.png", "c.png"]
    assert len(set(labels)) == 1  # a~b and b~c: one product
    by_label = _table(tmp_path / "shop" / "labels.csv", ["image", "label"], [["d.png", "red"]])
    assert read_labelled_images(by_label)[1] == ["red"]
    missing = _table(tmp_path / "shop" / "bad.csv", ["image", "label"], [["nope.png", "red"]])
    with pytest.raises(InvalidInput, match=r"row 2: image .*nope.png does not exist"):
        read_labelled_images(missing)
    with pytest.raises(InvalidInput, match="No folder or table"):
        read_labelled_images(tmp_path / "absent")


def test_an_untrained_head_is_never_kept() -> None:
    module, x, target = _toy(torch)

    def evaluate() -> float:  # the start looks best, but it is an untrained head
        return 1.0 if not module.training and not hasattr(module, "_seen") else 0.5

    def batches(epoch: int) -> Any:
        module._seen = True  # type: ignore[attr-defined]
        yield torch.nn.functional.cross_entropy(module(x), target)

    outcome = fit_loop(
        torch,
        module,
        batches,
        1,
        evaluate,
        epochs=2,
        patience=5,
        learning_rate=0.1,
        keep_start=False,
    )
    assert outcome.best_epoch == 1

    def interrupted(epoch: int) -> Any:
        raise KeyboardInterrupt
        yield

    with pytest.raises(KeyboardInterrupt):  # Ctrl-C before any epoch: nothing to save
        fit_loop(
            torch,
            module,
            interrupted,
            1,
            evaluate,
            epochs=2,
            patience=5,
            learning_rate=0.1,
            keep_start=False,
        )


def test_pk_batches_keep_each_group_in_chunks_of_two_or_more() -> None:
    from embedspace.train.image_encoder import _pk_batches

    groups = np.array([0] * 5 + [1] * 4 + [2])  # 5 = 4 + a lonely one; group 2 alone
    batches = list(_pk_batches(groups, 8, 4, np.random.default_rng(0)))
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(9))  # all but the single-row group
    for batch in batches:
        assert all(np.sum(groups[batch] == g) >= 2 for g in set(groups[batch].tolist()))
