"""``embedspace search`` and ``embedspace similar``: nearest neighbours in a space."""

from __future__ import annotations

import click

from embedspace.cli.options import json_option
from embedspace.cli.output import parse_where, print_answers, print_matches, print_sound_results
from embedspace.cli.progress import Stages
from embedspace.ops.queries import check_one_query
from embedspace.ops.rerank import DEFAULT_TOP
from embedspace.ops.rerank import search as search_text
from embedspace.ops.search_many import iter_answers, read_queries
from embedspace.ops.sounds import search_by_sound
from embedspace.store import Space
from embedspace.store.fusion import MODES

_K = click.option(
    "-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="How many results."
)
_WHERE = click.option(
    "--where",
    "where",
    multiple=True,
    metavar="COND",
    help="Keep items whose metadata matches COND: KEY=VALUE, KEY!=VALUE, KEY<VALUE, "
    "KEY<=VALUE, KEY>VALUE or KEY>=VALUE. Numbers compare as numbers (249.5 matches "
    "'249.50'), true/false match booleans, null a missing KEY. Repeat for more conditions "
    "(all must hold); KEY=VALUE repeated for one KEY means any of them. Quote < and > for "
    "the shell: --where 'price<300'.",
)
_EXACT = click.option(
    "--exact", is_flag=True, help="Search exactly even when an HNSW index is used."
)
_JSON = json_option("One JSON object per line: id, score, content, metadata.")
_SEARCH_JSON = json_option(
    "One JSON object per line: id, score, content, metadata. With --audio in a space of "
    "songs: one JSON array of id, score, offset_s, confidence, metadata ([]: no match)."
)
_MODE = click.option(
    "--mode",
    type=click.Choice(MODES),
    default="dense",
    show_default=True,
    help="dense: by meaning (vectors). keyword: by words (bm25: exact names, codes, rare "
    "words; case, accents and English word endings folded). hybrid: the best 100 of each, "
    "filtered by --where first, fused by reciprocal rank.",
)
_ALPHA = click.option(
    "--alpha",
    type=click.FloatRange(0, 1),
    help="With --mode hybrid: score ALPHA x dense + (1 - ALPHA) x keyword (each scaled to "
    "0..1) instead of fusing ranks.",
)

_PASSAGES = click.option(
    "--passages",
    is_flag=True,
    help="List matching passages of long documents, not each document once.",
)


@click.command("search")
@click.argument("space")
@click.argument("query", required=False)
@click.option(
    "--image",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Search with this image instead of a text (reverse image search).",
)
@click.option(
    "--audio",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Search with this sound (WAV, FLAC, OGG, MP3): in a space of songs, which song it "
    "is and where in it the clip starts (a few noisy seconds do); in a space of an audio "
    "encoder (aisfx, CLAP), what sounds most like it.",
)
@_K
@_WHERE
@_EXACT
@_MODE
@_ALPHA
@click.option(
    "--rerank",
    metavar="FOLDER",
    type=click.Path(file_okay=False),
    help="Re-order the first results with this cross-encoder (a sentence-transformers "
    "CrossEncoder folder, or its ONNX export: model.onnx + tokenizer.json). None ships "
    "with embedspace.",
)
@click.option(
    "--rerank-top",
    type=click.IntRange(min=1),
    default=DEFAULT_TOP,
    show_default=True,
    metavar="N",
    help="Results the cross-encoder re-orders.",
)
@_PASSAGES
@_SEARCH_JSON
def search_command(
    space: str,
    query: str | None,
    image: str | None,
    audio: str | None,
    k: int,
    where: tuple[str, ...],
    exact: bool,
    mode: str,
    alpha: float | None,
    rerank: str | None,
    rerank_top: int,
    passages: bool,
    as_json: bool,
) -> None:
    """Find the items of SPACE closest in meaning to QUERY, to an --image, or identify the
    song an --audio clip is from.

    Scores are higher-is-better: cosine similarity, dot product, or minus the euclidean
    distance, as the space's metric says. Text queries on an image space need a
    text-and-image encoder (imagenet-bridge, an alignment model, CLIP).

    \b
    Examples:
      embedspace search news "food"
      embedspace search news "elections" -k 3 --where source=dale-times --json
      embedspace search news "Mars rover" --mode keyword
      embedspace search news "space exploration" --mode hybrid
      embedspace search docs "how do I reset it" --rerank ./my-cross-encoder
      embedspace search shop "headphones" --where 'price<300' --where topic!=refurbished
      embedspace search photos --image query.jpg -k 5
      embedspace search photos "a cat"
      embedspace search songs --audio clip.wav --json   # what song is this?
      embedspace search sounds --audio door.wav -k 5     # an aisfx or CLAP space
    """
    check_one_query(query, image, audio, mode != "dense" or rerank is not None)
    with Space.open(space) as opened:
        if audio is not None:
            found = search_by_sound(opened, audio, k, where=parse_where(where), exact=exact)
            return print_sound_results(found, as_json=as_json, title=f"{audio} in {space}")
        if image is not None:
            matches = opened.search_image(image, k=k, where=parse_where(where), exact=exact)
        else:
            matches = search_text(
                opened,
                str(query),
                k,
                rerank_with=rerank,
                top=rerank_top,
                where=parse_where(where),
                exact=exact,
                mode=mode,
                alpha=alpha,
                passages=passages,
            )
    title = f"like image {image}" if image is not None else repr(query)
    print_matches(matches, as_json=as_json, title=f"{title} in {space}")


@click.command("similar")
@click.argument("space")
@click.argument("item_id", metavar="ID")
@_K
@_WHERE
@_EXACT
@_JSON
def similar_command(
    space: str, item_id: str, k: int, where: tuple[str, ...], exact: bool, as_json: bool
) -> None:
    """Find the items of SPACE closest to the stored item ID (itself excluded).

    \b
    Example:
      embedspace similar news dale-1 -k 3
    """
    with Space.open(space) as opened:
        matches = opened.similar(item_id, k=k, where=parse_where(where), exact=exact)
    print_matches(matches, as_json=as_json, title=f"like {item_id!r} in {space}")


@click.command("search-many")
@click.argument("space")
@click.argument("queries", metavar="FILE")
@_K
@_WHERE
@_EXACT
@_MODE
@_ALPHA
@_PASSAGES
@json_option(
    "One JSON object per query: line, query and matches (each: id, score, content, "
    "metadata), in the order of FILE."
)
def search_many_command(
    space: str,
    queries: str,
    k: int,
    where: tuple[str, ...],
    exact: bool,
    mode: str,
    alpha: float | None,
    passages: bool,
    as_json: bool,
) -> None:
    """Search SPACE for every line of FILE (one text query per line; - reads standard
    input), the queries embedded together: several times faster than one search per query.

    Blank lines are skipped; each answer names its query's line. The text-search options
    of 'embedspace search' apply to every query (no --rerank, --image or --audio here).

    \b
    Examples:
      embedspace search-many news questions.txt -k 3
      embedspace search-many news questions.txt --json > answers.jsonl
      cat questions.txt | embedspace search-many news - --mode hybrid
    """
    asked = read_queries(queries)
    with Space.open(space) as opened, Stages() as progress:
        answers = iter_answers(
            opened,
            asked,
            k,
            where=parse_where(where),
            exact=exact,
            mode=mode,
            alpha=alpha,
            passages=passages,
            on_progress=progress,
        )
        print_answers(answers, space, as_json=as_json, progress=progress)


COMMANDS = [search_command, similar_command, search_many_command]
