"""Two-tower recommendations on a tiny synthetic shop where the right answer is known:
two kinds of users, each buying only its own kind of item."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

import embedspace as es
from embedspace.encoders.two_tower import TwoTowerEncoder
from embedspace.errors import InvalidInput
from embedspace.io.interactions import read_features, read_interactions
from embedspace.ops.recommend import Recommender as TwoTowerModel
from embedspace.ops.recommend import train_two_tower
from embedspace.train.recs_eval import Catalogue, evaluate, popularity_scorer, split
from embedspace.train.two_tower import TwoTowerSettings

pytest.importorskip("torch")
pytest.importorskip("sklearn")

FAST = TwoTowerSettings(
    dim=16,
    id_dim=16,
    hidden=32,
    epochs=25,
    batch_size=64,
    patience=25,
    temperature=0.2,
    learning_rate=1e-2,
)


def run(*args: str) -> Result:
    return CliRunner().invoke(main_cli(), list(args), catch_exceptions=False)


def main_cli():  # imported lazily so the module imports without click side effects
    from embedspace.cli import main

    return main


def _shop(folder: Path) -> tuple[Path, Path, Path]:
    """60 users: 'sporty' ones buy gear (g*), 'bookish' ones buy books (b*)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    rows, users, items = [], [], []
    for i in range(12):
        items.append({"item_id": f"g{i}", "kind": "gear"})
        items.append({"item_id": f"b{i}", "kind": "book"})
    for u in range(60):
        taste = "sporty" if u % 2 == 0 else "bookish"
        users.append({"user_id": f"u{u}", "taste": taste, "age": 20 + u % 30})
        prefix = "g" if taste == "sporty" else "b"
        for t, i in enumerate(rng.choice(12, 8, replace=False)):
            rows.append(
                {
                    "user_id": f"u{u}",
                    "item_id": f"{prefix}{i}",
                    "rating": 4 + t % 2,
                    "timestamp": 1000 * u + t,
                }
            )
    paths = []
    for name, table in (("interactions", rows), ("users", users), ("items", items)):
        path = folder / f"{name}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)
        paths.append(path)
    return paths[0], paths[1], paths[2]


@pytest.fixture(scope="module")
def shop_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("shop")
    interactions, users, items = _shop(folder / "data")
    report = train_two_tower(
        read_interactions(interactions),
        folder / "model",
        user_features=read_features(users, id_column="user_id"),
        item_features=read_features(items, id_column="item_id"),
        settings=FAST,
    )
    assert report.reports[0].name == "two-tower"
    return folder, folder / "model"


def test_known_users_get_their_own_kind_and_never_what_they_bought(shop_model) -> None:
    folder, path = shop_model
    model = TwoTowerModel(path)
    for user, prefix in (("u0", "g"), ("u1", "b"), ("u10", "g"), ("u11", "b")):
        found = model.recommend(user, k=4)
        assert len(found) == 4
        assert all(item.startswith(prefix) for item, _ in found), (user, found)
        assert not set(model.seen(user)) & {item for item, _ in found}
        assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)


def test_cold_start_users_and_items_from_features(shop_model) -> None:
    _, path = shop_model
    model = TwoTowerModel(path)
    sporty = model.recommend(features={"taste": "sporty", "age": 30}, k=5)
    bookish = model.recommend(features={"taste": "bookish", "age": 30}, k=5)
    assert sum(i.startswith("g") for i, _ in sporty) >= 4, sporty
    assert sum(i.startswith("b") for i, _ in bookish) >= 4, bookish
    like_gear = model.similar_items(features={"kind": "gear"}, k=5)
    assert sum(i.startswith("g") for i, _ in like_gear) >= 4, like_gear
    like_g1 = model.similar_items("g1", k=5)
    assert "g1" not in {i for i, _ in like_g1} and sum(i.startswith("g") for i, _ in like_g1) >= 4


def test_the_model_beats_popularity_on_its_held_out_split(shop_model) -> None:
    folder, path = shop_model
    evaluation = {r["name"]: r for r in TwoTowerModel(path).config["evaluation"]}
    assert evaluation["two-tower"]["recall"] > evaluation["most popular"]["recall"]
    assert evaluation["two-tower"]["recall"] >= 0.2  # 1 of the 4 items left per user, at k=10 of 24
    # the same split, scored again from the saved vectors, gives the same number
    data = read_interactions(folder / "data" / "interactions.csv")
    train, test = split(data)
    model = TwoTowerModel(path)
    catalogue = Catalogue(model.users, model.items)
    weights = model.weights()
    again = evaluate(
        "again",
        lambda rows: weights["user_vectors"][rows] @ weights["item_vectors"].T,
        catalogue,
        train,
        test,
    )
    assert again.recall == pytest.approx(evaluation["two-tower"]["recall"])
    popular = evaluate("pop", popularity_scorer(catalogue, train), catalogue, train, test)
    assert popular.recall == pytest.approx(evaluation["most popular"]["recall"])


def test_towers_load_as_encoders_and_the_item_space_is_a_space(shop_model) -> None:
    _, path = shop_model
    items = es.encoders.get(str(path))
    users = es.encoders.get(f"{path}#user")
    assert isinstance(items, TwoTowerEncoder) and items.tower == "item" and users.tower == "user"
    vectors = items.encode(["g1", "b2"])
    assert vectors.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    with pytest.raises(InvalidInput, match="Unknown item"):
        items.encode(["nope"])
    with TwoTowerModel(path) as model:
        space = model.space()
        assert len(space) == 24
        assert space.search(users.encode(["u0"])[0], k=1)[0].id.startswith("g")


def test_training_is_reproducible(tmp_path: Path) -> None:
    interactions, _, _ = _shop(tmp_path / "data")
    data = read_interactions(interactions)
    small = TwoTowerSettings(dim=8, id_dim=8, hidden=8, epochs=3, batch_size=64, patience=3)
    first = train_two_tower(data, tmp_path / "a", settings=small, baselines=False)
    second = train_two_tower(data, tmp_path / "b", settings=small, baselines=False)
    a, b = TwoTowerModel(first.path).weights(), TwoTowerModel(second.path).weights()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_cli_train_evaluate_recommend(tmp_path: Path) -> None:
    interactions, users, items = _shop(tmp_path / "data")
    model = str(tmp_path / "model")
    trained = run(
        "train",
        "two-tower",
        str(interactions),
        "-o",
        model,
        "--user-features",
        str(users),
        "--item-features",
        str(items),
        "--dim",
        "16",
        "--id-dim",
        "16",
        "--hidden",
        "32",
        "--epochs",
        "25",
        "--patience",
        "25",
        "--batch-size",
        "64",
        "--temperature",
        "0.2",
        "--lr",
        "0.01",
        "--json",
    )
    assert trained.exit_code == 0, trained.output
    rows = [json.loads(line) for line in trained.stdout.splitlines()]
    assert [r["name"] for r in rows][:3] == ["two-tower", "most popular", "item-kNN (cosine)"]
    again = run("evaluate", model, str(interactions), "--json")
    assert json.loads(again.stdout.splitlines()[0])["recall"] == pytest.approx(rows[0]["recall"])
    recommended = [
        json.loads(line)
        for line in run("recommend", model, "--user", "u0", "-k", "3", "--json").stdout.splitlines()
    ]
    assert len(recommended) == 3 and set(recommended[0]) == {"item_id", "score"}
    assert all(r["item_id"].startswith("g") for r in recommended)
    table = run("similar-items", model, "--item", "b3", "-k", "2")
    assert table.exit_code == 0 and "b" in table.stdout
    unknown = run("recommend", model, "--user", "ghost")
    assert (
        unknown.exit_code == 1
        and "Unknown user" in unknown.stderr
        and "--features" in unknown.stderr
    )
    both = run("recommend", model)
    assert both.exit_code == 1 and "one of the two" in both.stderr


def test_bad_interaction_files_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("user_id,item_id\n")
    with pytest.raises(InvalidInput, match="no interactions"):
        read_interactions(empty)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("customer,product\na,b\n")
    with pytest.raises(InvalidInput, match="--user-column"):
        read_interactions(wrong)
    cli = run(
        "train", "two-tower", str(wrong), "-o", str(tmp_path / "m"), "--user-column", "customer"
    )
    assert cli.exit_code == 1 and "--item-column" in cli.stderr
    bad_time = tmp_path / "time.csv"
    bad_time.write_text("user_id,item_id,timestamp\na,b,yesterday\n")
    with pytest.raises(InvalidInput, match="row 1: 'timestamp' is not a number"):
        read_interactions(bad_time)
    one = tmp_path / "one.csv"
    one.write_text("user_id,item_id\na,b\n")
    with pytest.raises(InvalidInput, match="at least two"):
        train_two_tower(read_interactions(one), tmp_path / "m1")


def test_splits_and_weights(tmp_path: Path) -> None:
    interactions, _, _ = _shop(tmp_path / "data")
    data = read_interactions(interactions, weight_column="rating")
    assert data.weights is not None and set(data.weights.tolist()) == {4.0, 5.0}
    train, test = split(data, "leave-last-out")
    assert len(test) == 60 and len(train) == len(data) - 60
    last = {}
    for user, time_ in zip(data.users, data.timestamps, strict=True):  # type: ignore[arg-type]
        last[user] = max(last.get(user, -1.0), time_)
    assert all(t == last[u] for u, t in zip(test.users, test.timestamps, strict=True))  # type: ignore[arg-type]
    early, late = split(data, "time", fraction=0.25)
    assert early.timestamps.max() <= late.timestamps.min()  # type: ignore[union-attr]
    assert abs(len(late) - 0.25 * len(data)) <= 2
    untimed = read_interactions(interactions, time_column=None)
    with pytest.raises(InvalidInput, match="timestamp"):
        split(untimed, "time")
    weighted = train_two_tower(
        data,
        tmp_path / "weighted",
        settings=TwoTowerSettings(dim=8, id_dim=8, hidden=8, epochs=2, batch_size=64),
        baselines=False,
    )
    assert weighted.epochs_run >= 1


TINY = TwoTowerSettings(dim=8, id_dim=8, hidden=8, epochs=3, batch_size=64, patience=3)


def _chosen_in_file(path: Path) -> dict[str, set[str]]:
    data = read_interactions(path)
    chosen: dict[str, set[str]] = {}
    for user, item in zip(data.users, data.items, strict=True):
        chosen.setdefault(str(user), set()).add(str(item))
    return chosen


@pytest.mark.parametrize("how", ["leave-last-out", "time"])
def test_recommend_leaves_out_everything_the_user_chose_in_the_file(
    tmp_path: Path, how: str
) -> None:
    """Known answer: asked for the whole catalogue, a user gets exactly the items they never
    chose in the training file - not the ones of the internal test or validation splits."""
    interactions, _, _ = _shop(tmp_path / "data")
    if how == "time":  # every user's purchases spread over the whole period
        rows = list(csv.DictReader(interactions.open()))
        for number, row in enumerate(rows):
            row["timestamp"] = str(1000 * (number % 8) + int(row["user_id"][1:]))
        with interactions.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    settings = TwoTowerSettings(**{**vars(TINY), "split": how})
    train_two_tower(
        read_interactions(interactions), tmp_path / "m", settings=settings, baselines=False
    )
    chosen = _chosen_in_file(interactions)
    model = TwoTowerModel(tmp_path / "m")
    catalogue = set(model.items)
    for user in model.users:
        assert set(model.seen(user)) == chosen[user] & catalogue, user
        found = {item for item, _ in model.recommend(user, k=len(catalogue))}
        assert found == catalogue - chosen[user], user
    # u0's last interaction (the internal test split) and the one before it (validation)
    data = read_interactions(interactions)
    mine = data.subset(data.users == "u0")
    latest = mine.items[np.argsort(mine.timestamps)][-2:]  # type: ignore[arg-type]
    assert set(latest.tolist()) <= set(model.seen("u0"))


def test_seen_items_are_stored_as_arrays_not_in_the_json_config(tmp_path: Path) -> None:
    interactions, _, _ = _shop(tmp_path / "data")
    train_two_tower(read_interactions(interactions), tmp_path / "m", settings=TINY, baselines=False)
    config = json.loads((tmp_path / "m" / "two_tower.json").read_text())
    assert "histories" not in config and config["version"] == 2
    offsets = np.load(tmp_path / "m" / "seen_offsets.npy")
    items = np.load(tmp_path / "m" / "seen_items.npy")
    assert offsets.shape == (61,) and offsets[-1] == len(items) == 60 * 8
    # a folder written by the first version (seen items inline, incomplete) says to retrain
    config["version"] = 1
    config["histories"] = {"u0": ["g1"]}
    (tmp_path / "m" / "two_tower.json").write_text(json.dumps(config))
    old = TwoTowerModel(tmp_path / "m")
    with pytest.raises(InvalidInput, match="Retrain it with 'embedspace train two-tower'"):
        old.recommend("u0", k=3)
    assert len(old.recommend("u0", k=3, exclude_seen=False)) == 3
    assert len(old.similar_items("g1", k=3)) == 3


def test_training_reports_every_epoch_and_restores_torch_threads(tmp_path: Path) -> None:
    import torch

    from embedspace.train.two_tower_fit import TrainingEpoch

    interactions, _, _ = _shop(tmp_path / "data")
    epochs: list[TrainingEpoch] = []
    stages: list[tuple[str, int, int | None]] = []
    inside: list[int] = []

    def on_epoch(epoch: TrainingEpoch) -> None:
        epochs.append(epoch)
        inside.append(torch.get_num_threads())

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        report = train_two_tower(
            read_interactions(interactions),
            tmp_path / "m",
            settings=TINY,
            baselines=False,
            on_epoch=on_epoch,
            on_progress=lambda *stage: stages.append(stage),
        )
        assert torch.get_num_threads() == 2  # as it was before training
    finally:
        torch.set_num_threads(before)
    assert set(inside) == {1}  # the towers' small operations run on one thread
    assert [e.epoch for e in epochs if e.stage == "training"] == list(range(1, 4))
    assert all(e.validation_recall is not None and e.loss > 0 for e in epochs)
    assert [e.seconds for e in epochs] == sorted(e.seconds for e in epochs)
    assert report.epochs_run == 3
    names = list(dict.fromkeys(stage for stage, _, _ in stages))
    assert names[0] == "Preparing user and item features"
    assert "Training two-tower (validation Recall@10)" in names
    assert names[-1].startswith("Saving the model")


def test_the_refit_trained_alongside_equals_the_refit_trained_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from embedspace.train import two_tower_fit

    interactions, _, _ = _shop(tmp_path / "data")
    data = read_interactions(interactions)
    settings = TwoTowerSettings(**{**vars(TINY), "epochs": 6, "patience": 2})
    found = {}
    for cores in (1, 2):
        monkeypatch.setattr(two_tower_fit, "_free_cores", lambda cores=cores: cores)
        stages: list[str] = []
        report = train_two_tower(
            data,
            tmp_path / f"cores-{cores}",
            settings=settings,
            baselines=False,
            on_epoch=lambda epoch, stages=stages: stages.append(epoch.stage),
        )
        found[cores] = (TwoTowerModel(report.path).weights(), report.best_epoch, stages)
    assert found[1][1] == found[2][1]
    assert found[1][2].count("refit") == found[1][1] and "refit" not in found[2][2]
    for key, value in found[1][0].items():
        np.testing.assert_array_equal(value, found[2][0][key], err_msg=key)


def test_cli_training_progress_lines_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    interactions, _, _ = _shop(tmp_path / "data")
    args = ["--dim", "8", "--id-dim", "8", "--hidden", "8", "--epochs", "3", "--patience", "3"]
    trained = run("train", "two-tower", str(interactions), "-o", str(tmp_path / "m"), *args)
    assert trained.exit_code == 0, trained.output
    lines = [line for line in trained.stderr.splitlines() if ": epoch " in line]
    assert len(lines) >= 3, trained.stderr
    assert lines[0].startswith("Training two-tower (validation Recall@10): epoch 1/3, loss ")
    assert ", validation Recall@10 0." in lines[0] and lines[0].endswith(" s")


def _folder_digest(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("where", ["training", "saving"])
def test_ctrl_c_during_training_saves_nothing_and_keeps_the_earlier_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    from embedspace.store.space import Space
    from embedspace.train import two_tower_fit

    interactions, _, _ = _shop(tmp_path / "data")
    args = ["--dim", "8", "--id-dim", "8", "--hidden", "8", "--epochs", "2", "--no-baselines"]
    model = tmp_path / "models" / "shop"
    model.parent.mkdir()
    assert run("train", "two-tower", str(interactions), "-o", str(model), *args).exit_code == 0
    earlier = _folder_digest(model)

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    if where == "training":
        monkeypatch.setattr(two_tower_fit._Trainer, "epoch", interrupt)
    else:
        monkeypatch.setattr(Space, "create", interrupt)
    again = run("train", "two-tower", str(interactions), "-o", str(model), *args)
    assert again.exit_code == 130
    assert "Nothing was saved" in again.stderr and "earlier model" in again.stderr
    assert "already written" not in again.stderr
    assert _folder_digest(model) == earlier
    assert [p.name for p in model.parent.iterdir()] == ["shop"]  # no temporary folder left


def test_feature_kinds_go_to_the_table_that_has_the_column(tmp_path: Path) -> None:
    from embedspace.ops.recommend import feature_kinds

    users = {"u0": {"age": 3, "zip": "123"}}
    items = {"i0": {"title": "A film"}}
    kinds = {"zip": "ignore", "title": "categorical"}
    assert feature_kinds(kinds, users, items) == ({"zip": "ignore"}, {"title": "categorical"})
    with pytest.raises(InvalidInput, match="No feature column colour"):
        feature_kinds({"colour": "text"}, users, items)
    interactions, users_file, _ = _shop(tmp_path / "data")
    wrong = run(
        "train", "two-tower", str(interactions), "-o", str(tmp_path / "m"),
        "--user-features", str(users_file), "--feature-kind", "colour=text",
    )  # fmt: skip
    assert wrong.exit_code == 1 and "No feature column colour" in wrong.stderr


def test_training_progress_on_a_terminal_is_a_bar_with_the_last_epoch(capsys) -> None:
    from embedspace.cli.train_cmd import _TrainingProgress
    from embedspace.train.two_tower_fit import TrainingEpoch

    with _TrainingProgress(10, terminal=True) as shown:
        shown.stage("Training two-tower (validation Recall@10)", 0, 3)
        shown.epoch(TrainingEpoch("training", 1, 3, 6.5, 0.125, 2.0))
        shown.stage("Training two-tower (validation Recall@10)", 1, 3)
        assert shown._bar is not None
        text = shown._bar.description
        assert text.endswith("epoch 1/3, loss 6.5000, validation Recall@10 0.1250")
        shown.stage("Saving the model to m", 0, None)
    assert shown._bar is None
    assert ": epoch " not in capsys.readouterr().err  # no plain lines on a terminal
