"""The multitool over HTTP: duplicates, clusters, outliers, zero-shot labels of a served
space, and drift between two served spaces. Each route parses, makes one call to ``ops``,
and renders JSON; clustering with ``write_field`` writes metadata, so it needs the token
that may write."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from embedspace.ops.classify import classify_space
from embedspace.ops.cluster import cluster_space
from embedspace.ops.dedup import find_duplicates
from embedspace.ops.drift import compare
from embedspace.ops.outliers import METHODS, find_outliers
from embedspace.server.auth import may_write, reader
from embedspace.server.read_pool import not_served
from embedspace.server.state import ServerState
from embedspace.store import Space
from embedspace.store.conditions import parse_conditions

router = APIRouter(tags=["Multitool"])


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.embedspace
    return state


class Slice(BaseModel):
    """Which items to use: ``where`` as for ``Space.search`` (a mapping), or
    ``conditions`` as the CLI writes them (``["topic=pets", "year>=2020"]``); all when
    neither is given."""

    where: dict[str, Any] | None = None
    conditions: list[str] = Field(default_factory=list)

    def mapping(self) -> dict[str, Any] | None:
        """The filter as a where mapping (``None``: every item)."""
        return self.where or parse_conditions(self.conditions)


class Dedup(Slice):
    """``POST /spaces/{name}/dedup``: groups of items at least ``threshold`` similar."""

    threshold: float = Field(0.9, ge=-1, le=1)
    k: int = Field(10, ge=1, le=1000, description="Neighbours looked at per item.")


class Cluster(Slice):
    """``POST /spaces/{name}/cluster``: ``k`` clusters (k-means) or ``auto`` (HDBSCAN);
    with ``write_field``, each item's cluster is stored in that metadata field (one that
    exists already only with ``overwrite``)."""

    k: int | None = Field(None, ge=2, le=10_000)
    auto: bool = False
    min_cluster_size: int | None = Field(None, ge=2)
    seed: int = 0
    write_field: str | None = Field(None, min_length=1, max_length=200)
    overwrite: bool = False


class Outliers(Slice):
    """``POST /spaces/{name}/outliers``: items ranked by unusualness (``top`` of them)."""

    method: Literal["knn", "lof", "iforest"] = "knn"
    k: int = Field(10, ge=1, le=1000)
    contamination: float | None = Field(None, gt=0, lt=0.5)
    top: int | None = Field(None, ge=1)


class Classify(BaseModel):
    """``POST /spaces/{name}/classify``: each item's best label among ``labels``
    (zero-shot), a label phrased by ``template`` (``"a photo of a {}"``) if given."""

    labels: list[str] = Field(min_length=2)
    template: str | None = None


class Drift(BaseModel):
    """``POST /drift``: did the data change between two served spaces (or two slices of
    one, with ``reference_where``/``current_where``: a where mapping or conditions as
    the CLI writes them)?"""

    reference: str
    current: str
    reference_where: dict[str, Any] | list[str] | None = None
    current_where: dict[str, Any] | list[str] | None = None
    alpha: float = Field(0.05, gt=0, lt=1)
    permutations: int = Field(500, ge=10, le=10_000)
    seed: int = 0


@router.post("/spaces/{name}/dedup", dependencies=[Depends(reader)])
def dedup(name: str, body: Dedup, request: Request) -> dict[str, Any]:
    """Groups of duplicate and near-duplicate items (``find_duplicates``)."""
    with _state(request).spaces.using(name) as space:
        found = find_duplicates(space, threshold=body.threshold, k=body.k, where=body.mapping())
    return {
        "threshold": found.threshold,
        "items": len(found.snapshot),
        "groups": [
            {"members": g.members, "score": g.score, "exact": g.exact} for g in found.groups
        ],
    }


@router.post("/spaces/{name}/cluster", dependencies=[Depends(reader)])
def cluster(name: str, body: Cluster, request: Request) -> dict[str, Any]:
    """Clusters with their size, keywords and central items; each item's cluster
    (``-1``: in none). Writing ``write_field`` needs the token that may write."""
    if body.write_field:
        may_write(request)
    with _state(request).spaces.using(name) as space:
        found = cluster_space(
            space,
            body.k,
            auto=body.auto,
            min_cluster_size=body.min_cluster_size,
            seed=body.seed,
            where=body.mapping(),
            write_field=body.write_field,
            overwrite=body.overwrite,
        )
    content = dict(zip(found.snapshot.ids, found.snapshot.contents, strict=True))
    result = found.clustering
    return {
        "items": len(found.snapshot),
        "unclustered": found.unclustered,
        "written": found.written,
        "clusters": [
            {
                "label": c.label,
                "size": c.size,
                "keywords": c.keywords,
                "central": [{"id": i, "content": content[i]} for i in c.central],
            }
            for c in result.clusters
        ],
        "assignments": [
            {"id": i, "cluster": int(label)}
            for i, label in zip(result.ids, result.labels, strict=True)
        ],
    }


@router.post("/spaces/{name}/outliers", dependencies=[Depends(reader)])
def outliers(name: str, body: Outliers, request: Request) -> dict[str, Any]:
    """Items ranked by how little they fit the rest, most unusual first."""
    with _state(request).spaces.using(name) as space:
        found = find_outliers(space, body.method, body.k, body.contamination, where=body.mapping())
    content = dict(zip(found.snapshot.ids, found.snapshot.contents, strict=True))
    ranked = found.ranked[: body.top or len(found.ranked)]
    return {
        "method": found.method,
        "methods": list(METHODS),
        "items": len(found.ranked),
        "flagged": found.flagged,
        "ranked": [
            {"id": r.id, "score": r.score, "outlier": r.outlier, "content": content[r.id]}
            for r in ranked
        ],
    }


@router.post("/spaces/{name}/classify", dependencies=[Depends(reader)])
def classify(name: str, body: Classify, request: Request) -> dict[str, Any]:
    """Each item's best-fitting label (zero-shot) and its similarity to the label."""
    with _state(request).spaces.using(name) as space:
        found = classify_space(space, body.labels, template=body.template)
    return {"labels": [{"id": c.id, "label": c.label, "score": c.score} for c in found]}


@router.post("/drift", dependencies=[Depends(reader)])
def drift(body: Drift, request: Request) -> dict[str, Any]:
    """A two-sample test (MMD with a permutation p-value) between two served spaces, with
    the current items least like the reference."""
    spaces = _state(request).spaces
    reference, current = (_existing(spaces.path(n), n) for n in (body.reference, body.current))
    found = compare(
        reference,
        current,
        reference_where=_where(body.reference_where),
        current_where=_where(body.current_where),
        alpha=body.alpha,
        permutations=body.permutations,
        seed=body.seed,
    )
    return found.as_dict()


def _where(value: dict[str, Any] | list[str] | None) -> dict[str, Any] | None:
    """A slice given as a where mapping or as conditions (``["month=6"]``)."""
    return parse_conditions(value) if isinstance(value, list) else value or None


def _existing(path: Path, name: str) -> str:
    """A served space's path as ``compare`` takes it (absolute: never read as a name or
    a file of texts)."""
    if not Space.exists(path):
        raise not_served(name)
    return str(path.resolve())
