"""What one app holds while it runs: its settings, encoders with their batchers, the open
spaces, and counters. Made by ``create_app``; nothing is shared between two apps."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from embedspace import config
from embedspace.encoders import Encoder
from embedspace.encoders import get as get_encoder
from embedspace.encoders.threads import encoder_threads
from embedspace.errors import InvalidInput, SpaceNotFound
from embedspace.io.records import unicode_problem
from embedspace.ops.batching import DynamicBatcher
from embedspace.server.read_pool import ReadPool, not_served, open_space
from embedspace.server.settings import ServerSettings
from embedspace.store import Match, Space, delete_space, resolve
from embedspace.store.catalog import database_identity

#: What a space name served over HTTP may be: a plain folder name in the spaces folder
#: (no path separators, no "~", no leading dot), as ``Space.create`` accepts for a name.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")


class ServedSpaces:
    """The spaces an app serves, opened on first use and kept open. Each has a lock: a
    Space handle is used by one request at a time (requests run on worker threads).
    Searches take handles from a pool of ``readers`` per space instead (``searching``), so
    that several run side by side."""

    def __init__(self, names: tuple[str, ...], readers: int = 1) -> None:
        self._fixed = {Path(n).name if "/" in n else n: resolve(n) for n in names}
        # each open space with its database's identity when opened (``database_identity``)
        self._open: dict[str, tuple[Space, tuple[int, int] | None]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._readers: dict[str, ReadPool] = {}
        self._reader_count = readers
        self._deleting: set[str] = set()  # spaces whose files are going: no new handles
        self._guard = threading.Lock()

    def names(self) -> list[str]:
        """The served spaces' names (the fixed list, or every space in the home folder)."""
        if self._fixed:
            return sorted(n for n, p in self._fixed.items() if Space.exists(p))
        home = config.home()
        if not home.is_dir():
            return []
        return sorted(p.name for p in home.iterdir() if _NAME.fullmatch(p.name) and Space.exists(p))

    def path(self, name: str) -> Path:
        """Where the space ``name`` lives; ``SpaceNotFound`` for a name not served (also any
        name that tries to leave the spaces folder)."""
        if self._fixed:
            if name not in self._fixed:
                raise SpaceNotFound(f"No space '{name}' is served here; GET /spaces lists them.")
            return self._fixed[name]
        if not _NAME.fullmatch(name):
            raise not_served(name)
        return config.home() / name

    def can_create(self, name: str) -> Path:
        """Where a new space ``name`` goes; refused when the app serves a fixed list."""
        if self._fixed:
            raise InvalidInput(
                "This server serves a fixed list of spaces; start it without SPACE arguments "
                "to create spaces over HTTP."
            )
        path = resolve(name)
        if path.parent != config.home():
            raise InvalidInput(f"'{name}' is not a space name: use letters, digits, '-', '_'.")
        return path

    @contextmanager
    def using(self, name: str) -> Iterator[Space]:
        """The open space ``name``, held for the block, whose encoder calls (a write's
        embedding) spend this process's share of the cores (``encoder_threads``), not
        every core in each of ``serve --workers N`` processes."""
        path = self.path(name)
        with self._lock_of(name), encoder_threads(self._reader_count):
            now = database_identity(path)
            held = self._open.get(name)
            if held is not None and held[1] != now:  # deleted or replaced elsewhere
                del self._open[name]
                held[0].close()
                self._retire_stale(name, now)
                held = None
            if held is None:
                held = self._open[name] = (open_space(name, path), now)
            yield held[0]

    @contextmanager
    def searching(self, name: str) -> Iterator[Space]:
        """A handle of the space ``name`` for a read that may run beside others (a search),
        from the space's pool; ``SpaceNotFound`` as for ``using``."""
        path = self.path(name)
        with ExitStack() as taken:
            pool = self._pool(name, path)
            try:
                space = taken.enter_context(pool.taking())
            except SpaceNotFound:
                if not pool.replaced:  # deleted (or going): not there
                    raise
                # replaced by a new space through another process while this request
                # waited: take a handle of the new one
                space = taken.enter_context(self._pool(name, path).taking())
            yield space

    def _pool(self, name: str, path: Path) -> ReadPool:
        """The search handles' pool of ``name``, a new one if the space's database is not
        the one the pool opened (deleted or replaced through another server process)."""
        now = database_identity(path)
        self._retire_stale(name, now)
        with self._guard:  # not the space's lock: a search does not wait for a write
            if name in self._deleting:
                raise not_served(name)
            pool = self._readers.get(name)
            if pool is None:
                pool = self._readers[name] = ReadPool(name, path, self._reader_count)
        return pool

    def _retire_stale(self, name: str, now: tuple[int, int] | None) -> None:
        """Let go of the search handles of ``name`` if they are of another database than
        the one there ``now`` (a pool of the current one is left alone); handles in use
        close as their searches end, nobody waits."""
        with self._guard:
            pool = self._readers.get(name)
            if pool is None or pool.identity == now:
                return
            del self._readers[name]
            pool.retire()

    def open_encoder(self, name: str) -> Encoder | None:
        """The encoder of ``name`` if the space is open already and still the one on disk
        (no lock; one ``stat``), else ``None``: the search path asks this first to save a
        thread hop per query."""
        held = self._open.get(name)
        if held is None or held[1] != database_identity(self.path(name)):
            return None  # not open, or deleted or replaced through another process
        return held[0].encoder

    def encoder(self, name: str) -> Encoder:
        """The encoder of the space ``name`` (made on first use)."""
        with self.using(name) as space:
            return space.encoder

    def delete(self, name: str) -> None:
        """Close and delete the space ``name``, holding its lock so that no request reopens
        it halfway."""
        path = self.path(name)
        with self._lock_of(name):
            with self._guard:
                self._deleting.add(name)
            try:
                self._close_held(name)
                delete_space(path)
            finally:
                with self._guard:
                    self._deleting.discard(name)

    def forget(self, name: str) -> None:
        """Close ``name`` if it is open."""
        with self._lock_of(name):
            self._close_held(name)

    def _close_held(self, name: str) -> None:
        """Close the open space ``name`` and its search handles (waiting for searches in
        progress); the caller holds its lock."""
        held = self._open.pop(name, None)
        if held is not None:
            held[0].close()
        with self._guard:
            pool = self._readers.pop(name, None)
        if pool is not None:
            pool.close()

    def _lock_of(self, name: str) -> threading.Lock:
        """The lock of the space ``name`` (one request uses a Space handle at a time)."""
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def close(self) -> None:
        """Close every open space."""
        with self._guard:
            names = {*self._open, *self._readers}
        for name in names:
            self.forget(name)


class ServerState:
    """Everything a running app owns."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        #: Calls this process runs side by side (batches embedding, searches): its share of
        #: the cores, so that ``--workers N`` processes together run one per core.
        self.lanes = max(1, config.cpu_count() // settings.workers)
        self.spaces = ServedSpaces(settings.spaces, readers=self.lanes)
        self.started = time.time()
        self.requests: Counter[str] = Counter()
        self.in_flight = 0
        self._encoders: dict[str, Encoder] = {}
        self._batchers: dict[str, DynamicBatcher] = {}
        self._lock = threading.Lock()

    def encoder(self, model: str) -> Encoder:
        """The encoder ``model`` (one of the served models), constructed once."""
        if model not in self.settings.models:
            raise InvalidInput(
                f"Model '{model}' is not served here; GET /v1/models lists the models "
                f"({', '.join(self.settings.models)})."
            )
        with self._lock:
            if model not in self._encoders:
                self._encoders[model] = get_encoder(model)
            return self._encoders[model]

    async def embed(self, model: str, texts: list[str]) -> np.ndarray:
        """``texts`` embedded by ``model`` in batches shared with concurrent requests."""
        encoder = self.encoder(model)
        return await self._batcher(model, encoder.encode_document).embed(texts)

    async def query_vectors(self, space: str, texts: list[str]) -> np.ndarray:
        """Search queries for ``space`` embedded by its encoder, batched with concurrent
        requests' queries (outside the space's lock, so searches do not wait on them)."""
        encoder = self.spaces.open_encoder(space)
        if encoder is None:
            encoder = await asyncio.to_thread(self.spaces.encoder, space)
        return await self._batcher(f"query:{encoder.name}", encoder.encode_query).embed(texts)

    async def search(
        self,
        space: str,
        query: str | np.ndarray,
        k: int,
        *,
        where: dict[str, Any] | None = None,
        exact: bool = False,
        mode: str = "dense",
        alpha: float | None = None,
        passages: bool = False,
    ) -> list[Match]:
        """``Space.search`` for a request: a text query is embedded first, batched with
        other requests' queries outside the space's lock (not for ``mode="keyword"``, which
        needs no vector); the space is held only for the search itself."""
        embedded = None
        # a text the search itself refuses (empty, broken Unicode) is not embedded first
        if (
            isinstance(query, str)
            and mode != "keyword"
            and query.strip()
            and not unicode_problem(query)
        ):
            embedded = (await self.query_vectors(space, [query]))[0]

        def search() -> list[Match]:
            with self.spaces.searching(space) as opened:
                return opened.search(
                    query,
                    k,
                    where=where,
                    exact=exact,
                    mode=mode,
                    alpha=alpha,
                    embedded=embedded,
                    passages=passages,
                )

        return await asyncio.to_thread(search)

    def _batcher(self, key: str, encode: Callable[[list[str]], np.ndarray]) -> DynamicBatcher:
        """The batcher under ``key``, made on first use around ``encode``."""
        with self._lock:
            if key not in self._batchers:
                # one batch per core, each on one thread (see encoders/threads.py)
                self._batchers[key] = DynamicBatcher(encode, workers=self.lanes, threads_per_call=1)
            return self._batchers[key]

    async def close(self) -> None:
        """Stop the batchers and close the spaces."""
        for batcher in self._batchers.values():
            await batcher.close()
        self.spaces.close()
