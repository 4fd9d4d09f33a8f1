"""The reliability campaign of issue 12: faults injected into real processes, invariants
checked after each, and a table of trials, faults and failures (all must be zero).

- **kill**: a writer process adds, upserts, deletes, saves the HNSW sidecar (``optimize``)
  and creates spaces in a random order, acknowledging each committed operation on stdout;
  it is killed with SIGKILL at a random moment. Then: the space opens, SQLite's integrity
  check passes, no operation is half there (its items are all present or all absent, with
  one content), every acknowledged write is present and every acknowledged delete absent,
  HNSW search finds each sampled item first exactly as exact search does, and after the
  next writer opens it no temporary files or half-made spaces are left.
- **corrupt**: one file of a space with an HNSW sidecar is damaged (the database's first
  page zeroed, an inner page zeroed, the file truncated; the sidecar's stamp and graph files
  flipped, zeroed, truncated), then searched in a fresh process (a crash such as SIGBUS
  counts as a failure). Passing means a clean ``EmbedspaceError``, or answers equal to the
  exact answers over what the database holds (for a damaged sidecar: equal to the answers
  before the damage). Single bit flips inside stored values of ``space.db`` are not tried:
  SQLite keeps no page checksums, so nothing can notice them (see RESULTS.md).
- **full disk**, **read-only** and **concurrent creators** are in tests/test_store_faults.py
  (they need a mount); this campaign counts their runs when mounting is allowed.

    .venv/bin/python -m bench.reliability [--kills 60] [--corruptions 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.data import machine

ANN_THRESHOLD = 150  # small: the sidecar is built, updated and saved in every trial


def text_of(key: str) -> str:
    """Six words picked by a hash of ``key``: distinct texts whose (hashing) vectors are far
    apart, so that a miss of the HNSW index is a fault, not approximation."""
    import hashlib

    digest = hashlib.sha256(key.encode()).digest()
    return " ".join(f"w{b * 7 + i}" for i, b in enumerate(digest[:6]))


TEXT_OF = inspect.getsource(text_of)  # the same function in the child processes' scripts


def _script(source: str) -> str:
    """A child process's script: ``text_of`` defined, the ANN threshold filled in."""
    body = textwrap.dedent(source).replace("__ANN__", str(ANN_THRESHOLD))
    return body.replace("__TEXT__\n", TEXT_OF)


WRITER = _script(
    """
    import json, random, sys
    import embedspace as es
    __TEXT__
    path, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    space = es.Space.open(path, ann_threshold=__ANN__)
    op = 0
    def say(kind, ids, text="", done=False):
        print(json.dumps({"op": kind, "ids": ids, "text": text, "done": done}), flush=True)
    def ack(kind, ids, text=""):
        say(kind, ids, text, done=True)
    while True:
        op += 1
        kind = rng.choice(["add", "add", "add", "upsert", "delete", "save", "create"])
        if kind == "add":
            size = rng.randint(1, 400)
            ids = [f"s{seed}-o{op}-{i}" for i in range(size)]
            say(kind, ids)
            space.add([text_of(i) for i in ids], ids=ids)
            ack(kind, ids)
        elif kind == "upsert":
            known = space.ids()
            ids = rng.sample(known, min(len(known), rng.randint(1, 50)))
            text = f"rewritten at s{seed}-o{op}"
            say(kind, ids, text)
            space.upsert([text_of(f"{text} {i}") for i in ids], ids=ids)
            ack(kind, ids, text)
        elif kind == "delete":
            known = space.ids()
            ids = rng.sample(known, min(len(known), rng.randint(1, 30)))
            say(kind, ids)
            space.delete(ids)
            ack(kind, ids)
        elif kind == "save":
            say(kind, [])
            space.optimize()
            ack(kind, [])
        else:
            name = f"{path}-made-s{seed}-o{op}"
            say(kind, [name])
            es.Space.create(name, encoder="hashing").close()
            ack(kind, [name])
    """
)

LEAVE_LOG = _script(
    """
    import os, sqlite3, sys
    import embedspace as es
    path = sys.argv[1]
    keep = sqlite3.connect(os.path.join(path, "space.db"))  # no checkpoint when it ends
    keep.execute("PRAGMA journal_mode=WAL")
    __TEXT__
    with es.Space.open(path, ann_threshold=__ANN__) as space:
        ids = [f"late-{i}" for i in range(40)]
        space.add([text_of(i) for i in ids], ids=ids)
    os._exit(0)
    """
)

SEARCHER = _script(
    """
    import json, sys
    import numpy as np
    import embedspace as es
    path, probes = sys.argv[1], json.loads(sys.argv[2])
    try:
        space = es.Space.open(path, ann_threshold=__ANN__)
        out = {}
        for probe in probes:
            approx = [m.id for m in space.search(probe, k=5)]
            exact = [m.id for m in space.search(probe, k=5, exact=True)]
            out[probe] = [approx, exact]
        print(json.dumps({"ok": out}))
    except es.EmbedspaceError as error:
        print(json.dumps({"error": type(error).__name__, "message": str(error)}))
    """
)


@dataclass
class Tally:
    """One row of the table."""

    trials: int = 0
    faults: int = 0
    failures: list[str] = field(default_factory=list)
    during: Counter[str] = field(default_factory=Counter)  # what was in flight when hit


def _python(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=timeout
    )


def _new_space(path: Path, items: int) -> None:
    import embedspace as es

    with es.Space.create(path, encoder="hashing", ann_threshold=ANN_THRESHOLD) as space:
        if items:
            ids = [f"base-{i}" for i in range(items)]
            space.add([text_of(i) for i in ids], ids=ids)


def kill_trial(folder: Path, seed: int, tally: Tally) -> None:
    """One writer, killed at a random moment, then every invariant checked."""
    import embedspace as es

    path = folder / "space"
    rng = random.Random(seed)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(rng.uniform(0.4, 2.5))  # past the interpreter's start, into the writes
    writer.send_signal(signal.SIGKILL)
    out, err = writer.communicate()
    tally.trials += 1
    tally.faults += 1
    if writer.returncode != -signal.SIGKILL:
        tally.failures.append(f"seed {seed}: writer ended by itself: {err.strip()[-300:]}")
        return
    acked = [json.loads(line) for line in out.splitlines() if line.strip().endswith("}")]
    last = acked[-1] if acked else None
    tally.during["between operations" if last is None or last["done"] else str(last["op"])] += 1
    problems = _check_space(path, acked, rng)
    problems += _check_made_spaces(folder, acked)
    tally.failures += [f"seed {seed}: {p}" for p in problems]
    # The next writer cleans what the killed one left: temp files, half-made spaces.
    with es.Space.open(path, ann_threshold=ANN_THRESHOLD) as space:
        space.add([f"after {seed}"], ids=[f"after-{seed}"])
        space.optimize()
    es.Space.create(folder / f"space-made-check-{seed}", encoder="hashing").close()
    leftovers = [
        p.name
        for p in list(path.iterdir()) + list(folder.iterdir())
        if p.name.endswith(".tmp") or ".creating-" in p.name
    ]
    if leftovers:
        tally.failures.append(f"seed {seed}: files left behind: {leftovers}")


def _check_space(path: Path, acked: list[dict[str, object]], rng: random.Random) -> list[str]:
    """The invariants of one killed writer's space, against its acknowledgements."""
    import embedspace as es

    problems = []
    try:
        space = es.Space.open(path, ann_threshold=ANN_THRESHOLD)
    except es.EmbedspaceError as error:
        return [f"does not open: {error}"]
    with space:
        connection = sqlite3.connect(path / "space.db")
        (integrity,) = connection.execute("PRAGMA integrity_check").fetchone()
        connection.close()
        if integrity != "ok":
            problems.append(f"integrity check: {integrity}")
        acknowledged = {f"base-{i}": text_of(f"base-{i}") for i in range(300)}
        in_flight = None
        for entry in acked:
            if entry["done"]:
                _apply(acknowledged, entry)
                in_flight = None
            else:
                in_flight = entry
        with_flight = dict(acknowledged)
        if in_flight is not None:
            _apply(with_flight, in_flight)
        stored = {item.id: item.content for item in space.get_many(space.ids())}
        if stored not in (acknowledged, with_flight):
            lost = sorted(set(acknowledged) - set(stored))
            extra = sorted(set(stored) - set(with_flight))
            problems.append(
                f"the items are neither the acknowledged state nor it plus the operation in "
                f"flight ({len(lost)} acknowledged missing, e.g. {lost[:3]}; {len(extra)} "
                f"unexpected, e.g. {extra[:3]})"
            )
        ids = space.ids()
        for item_id in rng.sample(ids, min(20, len(ids))):
            vector = space.vectors([item_id])[0]
            approx = space.search(vector, k=1)
            exact = space.search(vector, k=1, exact=True)
            if not approx or approx[0].score < exact[0].score - 1e-4:
                problems.append(f"HNSW misses {item_id}: {approx[:1]} vs exact {exact[:1]}")
                break
    return problems


def _apply(state: dict[str, str], entry: dict[str, object]) -> None:
    """One writer operation, applied to the expected items."""
    ids = [str(i) for i in entry["ids"]]  # type: ignore[attr-defined]
    if entry["op"] == "add":
        state.update({i: text_of(i) for i in ids})
    elif entry["op"] == "upsert":
        state.update({i: text_of(f"{entry['text']} {i}") for i in ids})
    elif entry["op"] == "delete":
        for i in ids:
            state.pop(i, None)


def _check_made_spaces(folder: Path, acked: list[dict[str, object]]) -> list[str]:
    """Every acknowledged created space opens; no other folder is half made."""
    import embedspace as es

    problems = []
    for entry in acked:
        if entry["op"] == "create" and entry["done"]:
            try:
                es.Space.open(str(entry["ids"][0])).close()  # type: ignore[index]
            except es.EmbedspaceError as error:
                problems.append(f"created space does not open: {error}")
    for made in folder.glob("space-made-*"):
        try:
            es.Space.open(made).close()
        except es.EmbedspaceError as error:
            problems.append(f"{made.name} is half made: {error}")
    return problems


MUTATIONS = ("zero first page", "zero inner page", "truncate", "flip bytes")


def _mutate(file: Path, how: str, rng: random.Random) -> None:
    data = bytearray(file.read_bytes())
    if not data:
        return
    if how == "zero first page":
        data[: min(4096, len(data))] = bytes(min(4096, len(data)))
    elif how == "zero inner page":
        pages = max(1, len(data) // 4096)
        start = rng.randrange(pages) * 4096
        data[start : start + 4096] = bytes(len(data[start : start + 4096]))
    elif how == "truncate":
        data = data[: rng.randrange(len(data))]
    else:
        for _ in range(3):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    file.write_bytes(bytes(data))  # damage in place, as a disk or another program would


def corruption_trials(folder: Path, rounds: int, seed: int, tally: Tally) -> None:
    """Damage each file of a space with a sidecar; search it in a fresh process."""
    rng = random.Random(seed)
    pristine = folder / "pristine"
    _new_space(pristine, 2000)
    _python(LEAVE_LOG, str(pristine))  # later writes still in space.db-wal, as after a crash
    probes = [text_of(f"base-{i}") for i in rng.sample(range(2000), 8)]
    before = json.loads(_python(SEARCHER, str(pristine), json.dumps(probes)).stdout)["ok"]
    names = sorted(p.name for p in pristine.iterdir() if p.is_file() and "lock" not in p.name)
    for name in names:
        for how in MUTATIONS:
            for round_ in range(rounds):
                if name.startswith("space.db") and how == "flip bytes":
                    continue  # not detectable without page checksums (see the docstring)
                copy = folder / f"damaged-{name}-{how.replace(' ', '-')}-{round_}"
                shutil.copytree(pristine, copy)
                _mutate(copy / name, how, rng)
                tally.trials += 1
                tally.faults += 1
                verdict = _verdict(copy, name, probes, before)
                if verdict:
                    tally.failures.append(f"{name}, {how}: {verdict}")
                shutil.rmtree(copy, ignore_errors=True)


def _verdict(space: Path, name: str, probes: list[str], before: dict[str, list[list[str]]]) -> str:
    """ "" when the damaged space gave a clean error or right answers, else what went wrong."""
    result = _python(SEARCHER, str(space), json.dumps(probes))
    if result.returncode != 0:
        return f"process died ({result.returncode}): {result.stderr.strip()[-200:]}"
    answer = json.loads(result.stdout)
    if "error" in answer:
        return ""
    for probe, (approx, exact) in answer["ok"].items():
        if approx[:1] != exact[:1]:
            return f"HNSW answered {approx[:1]}, the database holds {exact[:1]}"
        if not name.startswith("space.db") and approx[:1] != before[probe][0][:1]:
            return f"a damaged sidecar answered {approx[:1]}, before {before[probe][0][:1]}"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=60)
    parser.add_argument("--corruptions", type=int, default=3, help="rounds per file and damage")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows: dict[str, Tally] = {"SIGKILL of a writer": Tally(), "damaged files": Tally()}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reliability-") as temp:
        root = Path(temp)
        for trial in range(args.kills):
            folder = root / f"kill-{trial}"
            folder.mkdir()
            _new_space(folder / "space", 300)
            kill_trial(folder, args.seed * 10_000 + trial, rows["SIGKILL of a writer"])
            shutil.rmtree(folder, ignore_errors=True)
        corrupt = root / "corrupt"
        corrupt.mkdir()
        corruption_trials(corrupt, args.corruptions, args.seed, rows["damaged files"])
    faults = _pytest_faults()
    if faults is not None:
        rows["full disk, read-only, concurrent creators (tests)"] = faults
    print(f"# Reliability campaign — {machine()}, {time.perf_counter() - started:.0f} s\n")
    print("| fault | trials | faults injected | failures |")
    print("|---|---|---|---|")
    for name, tally in rows.items():
        print(f"| {name} | {tally.trials} | {tally.faults} | {len(tally.failures)} |")
    killed = rows["SIGKILL of a writer"].during
    print("\nKilled during: " + ", ".join(f"{k} {v}" for k, v in sorted(killed.items())))
    for name, tally in rows.items():
        for failure in tally.failures[:10]:
            print(f"- {name}: {failure}")
    if any(t.failures for t in rows.values()):
        sys.exit(1)


def _pytest_faults() -> Tally | None:
    """Run the mounted-fault tests; ``None`` when this machine cannot mount (they skip)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rs",
            "tests/test_store_faults.py",
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "CI": ""},
    )
    if "cannot mount here" in result.stdout:
        return None
    passed = failed = 0
    for word, count in (w.split(" ")[::-1] for w in _summary(result.stdout)):
        if word.startswith("passed"):
            passed = int(count)
        elif word.startswith("failed"):
            failed = int(count)
    tally = Tally(trials=passed + failed, faults=passed + failed)
    tally.failures = [f"{failed} fault tests failed"] if failed or result.returncode else []
    return tally


def _summary(output: str) -> list[str]:
    last = output.strip().splitlines()[-1] if output.strip() else ""
    return [part.strip() for part in last.split(" in ")[0].split(",") if part.strip()]


if __name__ == "__main__":
    main()
