"""Batch embedding on Ray (``index --engine ray``, ``embedspace.distributed.embed``): a real
local Ray on 2 CPUs (or the cluster ``.ci/run`` starts, named by ``EMBEDSPACE_TEST_RAY``)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import embedspace as es
from embedspace import distributed
from embedspace.encoders import HashingEncoder
from embedspace.ops.ingest import ingest
from embedspace.ops.ray_engine import RayEngine, engine_named
from tests.conftest import has, needs_minilm, require, run

ROOT = Path(__file__).resolve().parent.parent


class DiesOnce(HashingEncoder):
    """The hashing encoder, whose process dies the first time it embeds (a killed worker)."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker

    def _encode_batch(self, batch: list[str], modality: str = "text") -> np.ndarray:
        if not os.path.exists(self.marker):
            Path(self.marker).write_text("died")
            os._exit(1)
        return super()._encode_batch(batch, modality)


class Refuses(HashingEncoder):
    """An encoder that must not be called (every vector should come from a shard)."""

    def _encode_batch(self, batch: list[str], modality: str = "text") -> np.ndarray:
        raise AssertionError("embedded again")


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """Ray, connected once for the module: the running cluster ``.ci/run`` started, or a
    local one on 2 CPUs."""
    require(has("ray"), "ray is not installed (pip install 'embedspace[ray]')")
    import ray

    address = os.environ.get("EMBEDSPACE_TEST_RAY")
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # DiesOnce, Refuses
    yield ray
    ray.shutdown()


def _texts(count: int) -> list[str]:
    return [
        f"sentence {i} about topic {i % 17}, with {'more words ' * (i % 9)}" for i in range(count)
    ]


def _csv(folder: Path, texts: list[str]) -> Path:
    path = folder / "corpus.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows([f"t{i}", text] for i, text in enumerate(texts))
    return path


@needs_minilm
def test_the_same_ids_and_vectors_as_one_process(ray_cluster: Any, tmp_path: Path) -> None:
    corpus = _csv(tmp_path, _texts(300))
    local = ingest("local", [corpus], text_fields=["text"], encoder="minilm-l6-fp32")
    engine = RayEngine(shard_size=64, shard_dir=tmp_path / "shards")
    report = ingest(
        "on-ray", [corpus], text_fields=["text"], encoder="minilm-l6-fp32", engine=engine
    )
    assert (report.added, report.embedded) == (local.added, local.embedded) == (300, 300)
    with es.Space.open("local") as one, es.Space.open("on-ray") as other:
        assert one.ids() == other.ids()
        np.testing.assert_allclose(other.vectors(), one.vectors(), rtol=0, atol=1e-6)
        assert other.info()["recipes"] == one.info()["recipes"]
    assert not list((tmp_path / "shards").iterdir())  # stored, so deleted


def test_a_killed_worker_is_replaced_and_its_shard_run_again(
    ray_cluster: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "died"
    engine = RayEngine(
        shard_size=50,
        workers=1,
        shard_dir=tmp_path / "shards",
        encoder_factory=lambda: DiesOnce(str(marker)),
    )
    texts = _texts(120)
    with es.Space.create("killed", encoder="hashing") as space:
        made = engine.vectors(space, [es.Record(f"t{i}", t) for i, t in enumerate(texts)])
        assert marker.exists()  # a worker did die
        expected = HashingEncoder().encode_document(texts)
        got = np.stack([made[h] for h in sorted(made)])
        assert got.shape == (120, expected.shape[1])
        np.testing.assert_allclose(np.sort(got, axis=0), np.sort(expected, axis=0), atol=1e-6)


def test_a_rerun_after_a_crash_uses_the_finished_shards(ray_cluster: Any, tmp_path: Path) -> None:
    corpus = _csv(tmp_path, _texts(200))
    first = RayEngine(shard_size=64, shard_dir=tmp_path / "shards")
    with es.Space.create("resumed", encoder="hashing") as space:
        first.vectors(space, es.read_records(corpus, text_fields=["text"]))  # then "crash"
    assert len(list((tmp_path / "shards").glob("*.parquet"))) == 4
    again = RayEngine(shard_dir=tmp_path / "shards", shard_size=64, encoder_factory=Refuses)
    report = ingest("resumed", [corpus], text_fields=["text"], engine=again)
    assert (report.added, report.embedded) == (200, 200)
    with es.Space.open("resumed") as space:
        expected = HashingEncoder().encode_document([space.get("t5").content])[0]
        np.testing.assert_allclose(space.get("t5").vector, expected, atol=1e-6)


def test_a_bad_row_is_reported_with_its_file_before_ray_starts(tmp_path: Path) -> None:
    corpus = tmp_path / "bad.csv"
    corpus.write_text("id,text\na,fine\nb,\nc,also fine\n")
    with pytest.raises(es.InvalidInput, match=r"bad\.csv, row 3.*Nothing was written"):
        distributed.embed("bad", [corpus], text_fields=["text"], encoder="hashing")
    assert not es.Space.exists("bad")


def test_skipped_rows_are_listed_with_their_file(ray_cluster: Any, tmp_path: Path) -> None:
    corpus = tmp_path / "bad.csv"
    corpus.write_text("id,text\na,fine\nb,\nc,also fine\n")
    report = distributed.embed(
        "bad", [corpus], text_fields=["text"], encoder="hashing", skip_invalid=True
    )
    assert report.added == 2 and [(r.path, r.row) for r in report.rejected] == [(str(corpus), 3)]


def test_engine_options_are_checked() -> None:
    assert engine_named("local") is None
    assert isinstance(engine_named("ray", workers=2), RayEngine)
    with pytest.raises(es.InvalidInput, match="for --engine ray"):
        engine_named("local", address="ray://x:10001")
    with pytest.raises(es.InvalidInput, match="Unknown engine"):
        engine_named("spark")


def test_the_command_starts_a_local_ray_and_indexes(tmp_path: Path) -> None:
    require(has("ray"), "ray is not installed (pip install 'embedspace[ray]')")
    corpus = _csv(tmp_path, _texts(100))
    env = {**os.environ, "EMBEDSPACE_HOME": str(tmp_path / "home")}
    env.pop("RAY_ADDRESS", None)
    command = [sys.executable, "-m", "embedspace", "index", "news", str(corpus)]
    command += ["--text-field", "text", "--encoder", "hashing", "--engine", "ray", "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert '"added": 100' in done.stdout and '"embedded": 100' in done.stdout
    assert "--address" in run("index", "--help").output


def test_the_command_uses_a_running_cluster_at_an_address(tmp_path: Path) -> None:
    address = os.environ.get("EMBEDSPACE_TEST_RAY")
    require(bool(address), "no running Ray cluster (.ci/run starts one: EMBEDSPACE_TEST_RAY)")
    corpus = _csv(tmp_path, _texts(50))
    env = {**os.environ, "EMBEDSPACE_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "embedspace", "index", "news", str(corpus), "--text-field"]
    command += ["text", "--encoder", "hashing", "--engine", "ray", "--address", str(address)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "50 added" in done.stdout
    elsewhere = [c if c != "news" else "other" for c in command[:-1]]  # all to embed again
    bad = subprocess.run(
        [*elsewhere, "127.0.0.1:1"], env=env, capture_output=True, text=True, timeout=300
    )
    assert bad.returncode == 1 and "Could not start or reach the Ray cluster" in bad.stderr


def test_vectors_another_table_cannot_join_are_refused_before_ray_starts(
    tmp_path: Path,
) -> None:
    from tests.conftest import TableEncoder

    with es.Space.create(tmp_path / "s", encoder=TableEncoder("table v2")) as space:
        space.add(["an old row"], ids=["old"])
    corpus = _csv(tmp_path, _texts(20))
    engine = RayEngine(shard_dir=tmp_path / "shards", encoder_factory=Refuses)
    with (
        es.Space.open(tmp_path / "s", encoder=TableEncoder("table v3")) as space,
        pytest.raises(es.EncoderMismatch, match="table v2"),
    ):
        engine.vectors(space, es.read_records(corpus, text_fields=["text"]))
    assert not (tmp_path / "shards").exists()  # nothing embedded, no shard, no Ray
