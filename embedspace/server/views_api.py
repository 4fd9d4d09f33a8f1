"""What the web page shows beyond search: a map of a space (projector), a similarity
heatmap of sentences, FAQ answers, and recommendations from two-tower models; plus
plotly.js, served from the installed ``plotly`` package so the page works offline. Each
route parses, makes one call to ops (or the store), and renders JSON."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from embedspace.ops.picture_data import map_snapshot, sentence_similarities
from embedspace.ops.qa import ask as ask_faq
from embedspace.ops.recommend import (
    Recommendation,
    Recommender,
    recommend_for_user,
    similar_to_item,
)
from embedspace.server.auth import reader
from embedspace.server.state import ServerState
from embedspace.store.conditions import parse_conditions

router = APIRouter(tags=["Views"])

#: Most points a map may ask for (more would not draw in a browser).
MOST_POINTS = 20_000
#: How many example users and items ``GET /recommenders`` lists for the page to suggest.
EXAMPLES = 50


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.embedspace
    return state


@router.get("/spaces/{name}/map", dependencies=[Depends(reader)])
def space_map(
    name: str,
    request: Request,
    dims: Annotated[int, Query(ge=2, le=3, description="2 or 3 dimensions.")] = 2,
    method: Annotated[Literal["pca", "umap", "tsne"], Query()] = "pca",
    color: Annotated[str | None, Query(description="A metadata field to colour by.")] = None,
    limit: Annotated[int, Query(ge=2, le=MOST_POINTS, description="Most points shown.")] = 2000,
    where: Annotated[list[str] | None, Query(description="KEY=VALUE, KEY<VALUE, ...")] = None,
) -> dict[str, Any]:
    """The items of a space projected to 2 or 3 dimensions (PCA, UMAP or t-SNE, computed
    here), coloured by a metadata field; a random sample of ``limit`` when there are more
    (``sampled`` says so)."""
    conditions = parse_conditions(where or [], option="where")
    with _state(request).spaces.using(name) as space:
        snapshot = space.snapshot(conditions)
    mapped = map_snapshot(
        snapshot, name=name, dims=dims, method=method, colour=color or None, limit=limit
    )
    return {
        "space": name,
        "dims": mapped.dims,
        "method": mapped.method,
        "color": color or None,
        "total": mapped.total,
        "shown": len(mapped.ids),
        "sampled": mapped.sampled,
        "fields": mapped.fields,
        "ids": mapped.ids,
        "coordinates": [[round(float(x), 5) for x in row] for row in mapped.coordinates],
        "texts": mapped.texts,
        "colors": mapped.colours,
    }


class Heatmap(BaseModel):
    """``POST /heatmap``: sentences to compare, and the served model that embeds them."""

    texts: list[str]
    model: str | None = None


@router.post("/heatmap", dependencies=[Depends(reader)])
def heatmap(body: Heatmap, request: Request) -> dict[str, Any]:
    """The cosine similarity of every pair of ``texts`` (2 to 60)."""
    state = _state(request)
    model = body.model or state.settings.default_model
    scores = sentence_similarities(body.texts, state.encoder(model))
    return {
        "model": model,
        "metric": "cosine",
        "texts": body.texts,
        "scores": [[round(float(x), 5) for x in row] for row in scores],
    }


class Question(BaseModel):
    """``POST /spaces/{name}/ask``: a question to a FAQ space (known questions as content,
    their answers in the metadata field ``answer_field``)."""

    question: str
    k: int = Field(3, ge=1, le=100)
    threshold: float = Field(0.5, ge=-1.0, le=1.0)
    answer_field: str = "answer"


@router.post("/spaces/{name}/ask", dependencies=[Depends(reader)])
def ask(name: str, body: Question, request: Request) -> dict[str, Any]:
    """The best answers from a FAQ space, best first, each with its confidence (the
    similarity of its question to the one asked) and whether it clears ``threshold``."""
    with _state(request).spaces.using(name) as space:
        answers = ask_faq(
            space, body.question, k=body.k, threshold=body.threshold, answer_field=body.answer_field
        )
    return {
        "question": body.question,
        "threshold": body.threshold,
        "answers": [
            {
                "id": a.id,
                "answer": a.answer,
                "matched_question": a.matched_question,
                "score": a.score,
                "confident": a.confident,
            }
            for a in answers
        ],
    }


def _recommender(request: Request, name: str) -> Path:
    folders = _state(request).settings.recommender_folders()
    if name not in folders:
        served = ", ".join(sorted(folders)) or "none"
        raise HTTPException(
            404, f"No recommender '{name}' is served here (served: {served}); see /recommenders."
        )
    return folders[name]


@router.get("/recommenders", dependencies=[Depends(reader)])
def recommenders(request: Request) -> dict[str, Any]:
    """The two-tower models served, with their numbers of users and items and a few ids of
    each (for the page to suggest)."""
    rows = []
    for name, path in sorted(_state(request).settings.recommender_folders().items()):
        with Recommender(path) as model:
            rows.append(
                {
                    "name": name,
                    "users": len(model.users),
                    "items": len(model.items),
                    "example_users": model.users[:EXAMPLES],
                    "example_items": model.items[:EXAMPLES],
                }
            )
    return {"recommenders": rows}


def _items(found: list[Recommendation]) -> dict[str, Any]:
    return {
        "items": [{"id": r.item_id, "score": round(r.score, 6), "title": r.title} for r in found]
    }


@router.get("/recommenders/{name}/recommend", dependencies=[Depends(reader)])
def recommend(
    name: str,
    request: Request,
    user: Annotated[str, Query(min_length=1, description="A user id the model knows.")],
    k: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> dict[str, Any]:
    """The ``k`` best items for a known user (items they already chose left out)."""
    return _items(recommend_for_user(_recommender(request, name), user, k=k))


@router.get("/recommenders/{name}/similar-items", dependencies=[Depends(reader)])
def similar_items(
    name: str,
    request: Request,
    item: Annotated[str, Query(min_length=1, description="An item id the model knows.")],
    k: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> dict[str, Any]:
    """The ``k`` items closest to a known item (itself left out)."""
    return _items(similar_to_item(_recommender(request, name), item, k=k))


@router.get("/static/vendor/plotly.min.js", include_in_schema=False)
def plotly_js() -> FileResponse:
    """plotly.js from the installed ``plotly`` package (the ``plot`` extra)."""
    spec = find_spec("plotly")
    origin = Path(spec.origin) if spec and spec.origin else None
    file = origin.parent / "package_data" / "plotly.min.js" if origin else None
    if file is None or not file.is_file():
        raise HTTPException(
            404, "plotly.js is not installed: pip install 'embedspace[plot]' for the projector."
        )
    return FileResponse(str(file), media_type="text/javascript")
