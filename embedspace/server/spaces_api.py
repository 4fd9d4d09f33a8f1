"""Spaces over HTTP: list, create, inspect and delete spaces; write, read and delete items;
search by text, vector, image or sound (which song a clip is), and similar items. Each
route parses, makes one call to the store (or ops), and renders JSON."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from pydantic import BaseModel, Field

from embedspace.errors import InvalidInput, TooLarge
from embedspace.io.records import Record, derive_id
from embedspace.server.auth import reader, writer
from embedspace.server.responses import VectorsResponse
from embedspace.server.state import ServerState
from embedspace.store import Match, Space
from embedspace.store.conditions import parse_conditions

router = APIRouter(tags=["Spaces"])


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.embedspace
    return state


def _match(match: Match) -> dict[str, Any]:
    return {
        "id": match.id,
        "score": round(float(match.score), 6),
        "content": match.content,
        "metadata": match.metadata,
    }


class NewSpace(BaseModel):
    """``POST /spaces``: a new space (encoder and metric as for ``Space.create``)."""

    name: str
    encoder: str = "minilm-l6"
    metric: Literal["cosine", "dot", "euclidean"] = "cosine"
    keyword_index: Literal["porter", "trigram"] = "porter"
    ann: Literal["hnsw", "hnsw-fp16", "hnsw-sq8"] = "hnsw"


class NewItem(BaseModel):
    """One item to write: ``text`` (embedded) or ``vector`` (stored as given)."""

    id: str | None = None
    text: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    vector: list[float] | None = None


class Items(BaseModel):
    """``POST /spaces/{name}/items``: a batch, written in one transaction."""

    items: list[NewItem]
    mode: Literal["upsert", "add"] = "upsert"


class Ids(BaseModel):
    """``POST /spaces/{name}/items/delete``."""

    ids: list[str]


class Search(BaseModel):
    """``POST /spaces/{name}/search``: ``query`` text or a ``vector``; ``where`` as for
    ``Space.search`` (a mapping) or ``conditions`` as the CLI writes them."""

    query: str | None = None
    vector: list[float] | None = None
    k: int = Field(10, ge=1, le=1000)
    where: dict[str, Any] | None = None
    conditions: list[str] = Field(default_factory=list)
    exact: bool = False
    mode: Literal["dense", "keyword", "hybrid"] = "dense"
    alpha: float | None = Field(None, ge=0, le=1)
    passages: bool = False


@router.get("/spaces", dependencies=[Depends(reader)])
def list_served(request: Request) -> dict[str, Any]:
    """The spaces served, with their size and encoder."""
    state = _state(request)
    rows = []
    for name in state.spaces.names():
        with state.spaces.using(name) as space:
            rows.append(_summary(space))
    return {"spaces": rows}


def _summary(space: Space) -> dict[str, Any]:
    info = space.info()
    keep = ("name", "encoder", "dim", "metric", "ann", "count", "data_version", "recipes")
    return {key: info[key] for key in keep}


@router.post("/spaces", status_code=201, dependencies=[Depends(writer)])
def create(body: NewSpace, request: Request) -> dict[str, Any]:
    """Create an empty space."""
    state = _state(request)
    path = state.spaces.can_create(body.name)
    encoder = state.encoder(body.encoder)  # only the served models: no paths, no downloads
    with Space.create(
        path,
        encoder=encoder,
        metric=body.metric,
        keyword_index=body.keyword_index,
        ann=body.ann,
    ) as space:
        return _summary(space)


@router.get("/spaces/{name}", dependencies=[Depends(reader)])
def info(name: str, request: Request) -> dict[str, Any]:
    """A space's stamp, size and index state."""
    with _state(request).spaces.using(name) as space:
        return _summary(space)


@router.delete("/spaces/{name}", dependencies=[Depends(writer)])
def delete(name: str, request: Request) -> dict[str, Any]:
    """Delete a space and everything in it."""
    _state(request).spaces.delete(name)
    return {"deleted": name}


@router.post("/spaces/{name}/items", dependencies=[Depends(writer)])
def write(name: str, body: Items, request: Request) -> dict[str, Any]:
    """Add or upsert a batch of items in one transaction."""
    state = _state(request)
    if len(body.items) > state.settings.max_batch:
        raise TooLarge(f"{len(body.items):,} items; the limit is {state.settings.max_batch:,}.")
    with state.spaces.using(name) as space:
        records = [_record(item) for item in body.items]
        result = space.add(records) if body.mode == "add" else space.upsert(records)
    return {
        "added": result.added,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "embedded": result.embedded,
    }


def _record(item: NewItem) -> Record:
    vector = None if item.vector is None else np.asarray(item.vector, dtype=np.float32)
    return Record(item.id or derive_id(item.text), item.text, dict(item.metadata), vector=vector)


@router.get("/spaces/{name}/items/{item_id}", dependencies=[Depends(reader)])
def get_item(name: str, item_id: str, request: Request, vector: bool = False) -> dict[str, Any]:
    """One item (with its vector if ``vector=true``)."""
    with _state(request).spaces.using(name) as space:
        (item,) = space.get_many([item_id])
    out: dict[str, Any] = {"id": item.id, "content": item.content, "metadata": item.metadata}
    if vector:
        out["vector"] = [float(x) for x in item.vector]
    return out


@router.post("/spaces/{name}/items/delete", dependencies=[Depends(writer)])
def delete_items(name: str, body: Ids, request: Request) -> dict[str, Any]:
    """Delete items by id in one transaction."""
    with _state(request).spaces.using(name) as space:
        return {"deleted": space.delete(body.ids)}


@router.post(
    "/spaces/{name}/search", dependencies=[Depends(reader)], response_class=VectorsResponse
)
async def search(name: str, body: Search, request: Request) -> VectorsResponse:
    """The ``k`` items closest to a text or a vector."""
    if (body.query is None) == (body.vector is None):
        raise InvalidInput("Give query (a text) or vector (a list of numbers), one of the two.")
    where = body.where or parse_conditions(body.conditions)
    query = body.query if body.query is not None else np.asarray(body.vector, dtype=np.float32)
    found = await _state(request).search(
        name,
        query,
        body.k,
        where=where,
        exact=body.exact,
        mode=body.mode,
        alpha=body.alpha,
        passages=body.passages,
    )
    return VectorsResponse({"matches": [_match(m) for m in found]})


@router.get("/spaces/{name}/search", dependencies=[Depends(reader)], response_class=VectorsResponse)
async def search_get(
    name: str,
    request: Request,
    q: Annotated[str, Query(min_length=1, description="The text to search for.")],
    k: Annotated[int, Query(ge=1, le=1000)] = 10,
    where: Annotated[list[str] | None, Query(description="KEY=VALUE, KEY<VALUE, ...")] = None,
    mode: Annotated[Literal["dense", "keyword", "hybrid"], Query()] = "dense",
    alpha: Annotated[float | None, Query(ge=0, le=1)] = None,
    passages: bool = False,
) -> VectorsResponse:
    """Search from a browser's address bar: ``?q=space+exploration&k=5&where=topic=science``
    (``&mode=keyword`` or ``hybrid`` to search by words too, ``&alpha=``, ``&passages=true``)."""
    conditions = parse_conditions(where or [], option="where")
    found = await _state(request).search(
        name, q, k, where=conditions, mode=mode, alpha=alpha, passages=passages
    )
    return VectorsResponse({"matches": [_match(m) for m in found]})


@router.get("/spaces/{name}/similar/{item_id}", dependencies=[Depends(reader)])
def similar(
    name: str, item_id: str, request: Request, k: Annotated[int, Query(ge=1, le=1000)] = 10
) -> dict[str, Any]:
    """The items closest to a stored item (itself left out)."""
    with _state(request).spaces.using(name) as space:
        return {"matches": [_match(m) for m in space.similar(item_id, k=k)]}


@router.post("/spaces/{name}/search/image", dependencies=[Depends(reader)])
async def search_image(
    name: str,
    request: Request,
    image: Annotated[UploadFile, File(description="An image file (JPEG, PNG, WebP, GIF, BMP).")],
    k: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> dict[str, Any]:
    """The items closest to an uploaded image (spaces of an image encoder)."""
    state = _state(request)
    data = await _read_upload(image, state.settings.max_image_bytes, "image")
    return await asyncio.to_thread(_search_image_bytes, state, name, data, k)


async def _read_upload(upload: UploadFile, limit: int, what: str) -> bytes:
    """The uploaded file's bytes; ``TooLarge`` past ``limit`` (never read further)."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"The {what} is over {limit:,} bytes.")
    return data


@contextlib.contextmanager
def _as_file(data: bytes, suffix: str) -> Iterator[Path]:
    """Uploaded bytes as a file in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="embedspace-upload-") as folder:
        file = Path(folder) / f"upload{suffix}"
        file.write_bytes(data)
        yield file


def _search_image_bytes(state: ServerState, name: str, data: bytes, k: int) -> dict[str, Any]:
    from embedspace.io.images import check_image_bytes

    suffix = check_image_bytes(data, state.settings.max_image_pixels)
    with _as_file(data, suffix) as file, state.spaces.using(name) as space:
        found = space.search_image(file, k=k)
    return {"matches": [_match(m) for m in found]}


@router.post("/spaces/{name}/search/audio", dependencies=[Depends(reader)])
async def search_audio(
    name: str,
    request: Request,
    audio: Annotated[UploadFile, File(description="A sound file (WAV, FLAC, OGG, MP3).")],
    k: Annotated[int, Query(ge=1, le=1000)] = 5,
) -> dict[str, Any]:
    """Which song an uploaded clip is (``songs``: id, score, offset_s, confidence; ``[]``:
    no match) in a space of song fingerprints; in a space of an audio encoder, the items
    that sound most like it (``matches``)."""
    state = _state(request)
    data = await _read_upload(audio, state.settings.max_audio_bytes, "sound")
    return await asyncio.to_thread(_search_audio_bytes, state, name, data, audio.filename, k)


def _search_audio_bytes(
    state: ServerState, name: str, data: bytes, filename: str | None, k: int
) -> dict[str, Any]:
    from embedspace.io.audio import upload_suffix
    from embedspace.ops.sounds import search_by_sound

    with _as_file(data, upload_suffix(data, filename)) as file, state.spaces.using(name) as space:
        found = search_by_sound(space, file, k)
    if found.identified:
        return {"songs": [song.to_dict() for song in found.songs]}
    return {"matches": [_match(m) for m in found.matches]}
