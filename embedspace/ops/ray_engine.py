"""Batch embedding on Ray Data: the texts an ingest must embed, cut into shards, embedded by
a pool of actors that each load the space's encoder once, and written back as Parquet shards
(``content_hash``, ``vector``) that the ingest then writes into the space as usual.

Why shards on the driver's disk: a shard is named by what it holds (the encoder, its recipe
and the content hashes), and is written atomically as its result arrives; so a run that
crashes or is stopped leaves finished shards behind, and the next run embeds only the rest.
The actors send results through Ray's object store, so this works on a cluster whose nodes
share no disk. Shards are deleted once their vectors are in the space.

The files are read, checked and split on the driver (``ops.ingest``), as in a local ingest:
nothing is written unless every input is valid, and a bad row is reported with its file and
line before Ray starts. Writing stays on the driver too: one SQLite file takes one writer.
What scales with nodes is the embedding, which is where the time goes (~99% of a local
ingest of short texts).

Ray's API differs between versions (``concurrency=`` vs ``compute=ActorPoolStrategy``);
``_pool`` is the one place that knows.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedspace import config
from embedspace.encoders import Encoder
from embedspace.encoders import get as get_encoder
from embedspace.encoders.threads import encoder_threads
from embedspace.errors import DimensionMismatch, EmbedspaceError, InvalidInput, MissingExtra
from embedspace.io.records import Record, record_hash
from embedspace.progress import ProgressCallback, report
from embedspace.store import Space
from embedspace.store.writes import refuse_other_table

SHARD = 2048  # texts per shard: the unit of work, retry and resumption
FORMAT = "1"  # bump when the shard file layout changes


@dataclass
class RayEngine:
    """Embed with Ray. ``address``: an existing cluster (``ray://…`` or ``host:port``);
    ``None`` starts a local Ray with this machine's CPUs for the run (or uses the one this
    process already started). ``workers``: actors (default: one per CPU of the cluster).
    ``encoder_factory``: how an actor makes the encoder (default: the space's encoder by
    name, as the registry resolves it on that node)."""

    address: str | None = None
    workers: int | None = None
    shard_size: int = SHARD
    encoder_factory: Callable[[], Encoder] | None = None
    shard_dir: Path | None = None
    shards_used: list[Path] = field(default_factory=list)

    def vectors(
        self,
        space: Space,
        records: Sequence[Record],
        on_progress: ProgressCallback | None = None,
    ) -> dict[str, np.ndarray]:
        """Vectors of the text ``records`` that carry none and whose content no item of
        ``space`` has yet, by content hash."""
        wanted: dict[str, str] = {}
        for record in records:
            if record.modality == "text" and record.vector is None:
                wanted.setdefault(record_hash(record), str(record.content))
        for digest in space.stored_contents(list(wanted)):
            del wanted[digest]
        if not wanted:
            return {}
        # Refused before any work, as a local write refuses before it embeds: vectors of
        # another static table cannot join this space's (the write would refuse them after
        # the whole collection had been embedded on the cluster).
        refuse_other_table(space)
        identity = f"{FORMAT}|{space.stamp.encoder}|{space.encoder.runtime_recipe()}"
        # a folder per space and encoder: runs into other spaces never touch these shards
        place = hashlib.sha256(f"{space.info()['path']}|{identity}".encode()).hexdigest()[:16]
        folder = self.shard_dir or config.cache_dir() / "ray-shards" / place
        folder.mkdir(parents=True, exist_ok=True)
        vectors: dict[str, np.ndarray] = {}
        earlier = sorted(folder.glob("*.parquet"))  # what a stopped run finished
        for path in earlier:
            vectors.update((h, v) for h, v in _read_shard(path).items() if h in wanted)
        todo = sorted(h for h in wanted if h not in vectors)
        shards = []
        for start in range(0, len(todo), self.shard_size):
            chunk = todo[start : start + self.shard_size]
            key = hashlib.sha256("\n".join([identity, *chunk]).encode()).hexdigest()[:24]
            shards.append((folder / f"{key}.parquet", chunk))
        self.shards_used = [*earlier, *(path for path, _ in shards)]
        stage = "Embedding on Ray (shards)"
        report(on_progress, stage, 0, len(shards))
        if shards:
            factory = self.encoder_factory or _by_name(space.stamp.encoder)
            with _ray(self.address) as ray:
                rows = [
                    {"shard": str(path), "texts": [wanted[h] for h in chunk], "hashes": chunk}
                    for path, chunk in shards
                ]
                for done, (path, found) in enumerate(_run(ray, rows, factory, self.workers), 1):
                    if any(v.shape != (space.stamp.dim,) for v in found.values()):
                        raise DimensionMismatch(
                            f"The Ray workers' encoder made vectors of another size than the "
                            f"space's {space.stamp.dim}: check --encoder on the workers."
                        )
                    _write_shard(path, found)
                    vectors.update(found)
                    report(on_progress, stage, done, len(shards))
        return vectors

    def finished(self) -> None:
        """Delete the shards the last ``vectors`` call used (their vectors are stored now)."""
        for path in self.shards_used:
            path.unlink(missing_ok=True)
        self.shards_used = []


ENGINES = ("local", "ray")


def engine_named(
    name: str, *, address: str | None = None, workers: int | None = None
) -> RayEngine | None:
    """The engine ``index --engine`` names: ``None`` for ``local`` (this process), else a
    ``RayEngine``. ``address`` and ``workers`` are Ray's."""
    if name not in ENGINES:
        raise InvalidInput(f"Unknown engine '{name}'; choose one of: {', '.join(ENGINES)}.")
    if name == "local":
        if address or workers:
            raise InvalidInput("--address and --workers are for --engine ray.")
        return None
    return RayEngine(address=address, workers=workers)


def _by_name(name: str) -> Callable[[], Encoder]:
    def make() -> Encoder:
        return get_encoder(name)

    return make


@contextlib.contextmanager
def _ray(address: str | None) -> Iterator[Any]:
    """Ray, connected: to ``address``, to the Ray this process started, or to a local Ray
    started here for the block (and stopped after it)."""
    try:
        import ray
    except ImportError:
        raise MissingExtra("Embedding with --engine ray", "ray", "ray") from None
    started = False
    if not ray.is_initialized():
        options: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "configure_logging": False,
        }
        if address:
            _check_reachable(address)  # else ray.init waits for minutes on a wrong address
            options["address"] = address
        else:  # a Ray of its own, even where `ray start` runs one: --address names that
            options.update(address="local", num_cpus=config.cpu_count())
        try:
            ray.init(**options)
        except (ConnectionError, RuntimeError, ValueError) as error:
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise EmbedspaceError(
                f"Could not start or reach {where}: {error}. Check the address (ray status "
                "on the head node prints it), or leave --address out for a local Ray."
            ) from None
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _check_reachable(address: str) -> None:
    """Fail fast, with what to do, when ``host:port`` (or ``ray://host:port``) does not
    answer; ``auto`` and the like are left to Ray."""
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as error:
        raise EmbedspaceError(
            f"Could not start or reach the Ray cluster at {address}: {error}. Check the "
            "address ('ray status' on the head node prints it), or leave --address out for a "
            "local Ray."
        ) from None


class _ShardEmbedder:
    """A Ray actor: makes the encoder once, then embeds one shard per call."""

    def __init__(self, factory: Callable[[], Encoder], threads: int) -> None:
        self.encoder = factory()
        self.encoder.check_available()
        self.threads = threads  # this actor's share of its node's cores

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        vectors = []
        for texts in batch["texts"]:
            with encoder_threads(self.threads):
                found = self.encoder.encode_document([str(t) for t in texts])
            vectors.append(np.ascontiguousarray(found, dtype=np.float32).tobytes())
        return {
            "shard": batch["shard"],
            "hashes": batch["hashes"],
            "vectors": np.array(vectors, dtype=object),
            "dim": np.full(len(vectors), self.encoder.dim),
        }


def _pool(ray: Any, workers: int) -> dict[str, Any]:
    """``map_batches`` arguments for an actor pool of ``workers``, in this Ray's words
    (``concurrency=`` came in 2.9 and was deprecated again in 2.51 for ``compute=``). Ray Data
    gives pool actors ``max_restarts=-1`` and ``max_task_retries=-1`` unless told otherwise:
    a dead worker is replaced and its shard run again."""
    strategy = getattr(ray.data, "ActorPoolStrategy", None)
    if strategy is not None and "size" in inspect.signature(strategy).parameters:
        return {"compute": strategy(size=workers)}
    return {"concurrency": workers}


def _quiet(ray: Any) -> None:
    """No progress bars or execution logs of Ray Data's: the caller reports progress."""
    context = ray.data.DataContext.get_current()
    for setting in ("enable_progress_bars", "print_on_execution_start", "enable_auto_log_stats"):
        if hasattr(context, setting):
            setattr(context, setting, False)
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def _run(
    ray: Any, rows: list[dict[str, Any]], factory: Callable[[], Encoder], workers: int | None
) -> Iterator[tuple[Path, dict[str, np.ndarray]]]:
    """Each shard's path and its vectors by hash, as the actors finish them."""
    _quiet(ray)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    size = max(1, min(workers or cpus, len(rows)))
    dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
    nodes = [n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    largest = int(max(nodes, default=1))
    per_actor = max(1, min(cpus // size, largest))  # no actor asks for more than a node has
    embedded = dataset.map_batches(
        _ShardEmbedder,
        batch_size=1,
        batch_format="numpy",
        fn_constructor_kwargs={"factory": factory, "threads": per_actor},
        num_cpus=per_actor,
        **_pool(ray, size),
    )
    for batch in embedded.iter_batches(batch_size=None, batch_format="numpy"):
        for shard, hashes, blob, dim in zip(
            batch["shard"], batch["hashes"], batch["vectors"], batch["dim"], strict=True
        ):
            matrix = np.frombuffer(blob, dtype=np.float32).reshape(-1, int(dim))
            yield Path(str(shard)), dict(zip([str(h) for h in hashes], matrix, strict=True))


def _write_shard(path: Path, vectors: dict[str, np.ndarray]) -> None:
    """A shard as Parquet (``content_hash``, ``vector``), written to a temporary name and
    renamed: a shard file is whole or absent."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    hashes = list(vectors)
    matrix = np.stack([vectors[h] for h in hashes]).astype(np.float32)
    table = pa.table(
        {
            "content_hash": pa.array(hashes, pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(matrix.reshape(-1)), matrix.shape[1]
            ),
        }
    )
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, temp)
    os.replace(temp, path)


def _read_shard(path: Path) -> dict[str, np.ndarray]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    column = table.column("vector").combine_chunks()
    dim = column.type.list_size
    matrix = column.flatten().to_numpy().reshape(-1, dim)
    return dict(zip(table.column("content_hash").to_pylist(), matrix, strict=True))
