"""The JSON the web API answers with: one pydantic model per response, so that ``/api/openapi.json``
describes every field (the page, scripts and the schema-driven tests rely on it)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from lookalike.metrics import SearchMetric

Metric = SearchMetric


class ErrorOut(BaseModel):
    """Every error: one line saying what is wrong and what to do."""

    detail: str = Field(examples=["no image with id 7 in this index; list the ids with GET /api/images"])


class ImageOut(BaseModel):
    """An indexed image: its id (the only way to address it), path inside the indexed folder, size."""

    id: int
    path: str = Field(description="Path relative to the indexed folder, '/'-separated.")
    width: int | None
    height: int | None
    bytes: int | None
    thumb: str = Field(description="URL of its thumbnail (JPEG).")
    full: str = Field(description="URL of the image itself.")


class ImagesPage(BaseModel):
    total: int = Field(description="Images that match q (all searchable images without q).")
    offset: int
    limit: int
    order: Literal["path", "random"]
    seed: int
    q: str | None
    images: list[ImageOut]


class HitOut(ImageOut):
    rank: int
    score: float
    is_copy: bool | None = Field(
        None,
        alias="copy",  # (the attribute may not be called copy: BaseModel.copy)
        description="Whether the hit shows the same picture as the query (a re-encoded, resized, turned, "
        "mirrored, cropped or framed copy), by the pixel checks of lookalike dedup; null: not checked (past "
        "the best 20 hits or the time budget, unreadable, or copies=false).",
    )
    relation: str | None = Field(
        None, description="How the query turns into the copy: exact, near-identical, rotated 90° clockwise, …"
    )


class QueryOut(BaseModel):
    """What was searched for or compared: an indexed image (``id``) or an upload (``name``)."""

    kind: Literal["indexed", "upload"]
    id: int | None = None
    path: str | None = None
    name: str | None = None
    width: int | None = None
    height: int | None = None
    bytes: int | None = None
    thumb: str | None = None


class SearchTiming(BaseModel):
    """Milliseconds, measured in the server: decoding and embedding an upload apart from the search."""

    decode_ms: float | None = Field(description="Reading the uploaded image (None for an indexed query).")
    embed_ms: float | None = Field(description="Running the model on the upload (None for an indexed query).")
    search_ms: float
    copies_ms: float | None = Field(
        None, description="Checking which hits are copies of the query (None when not checked)."
    )
    total_ms: float = Field(description="From the first byte read to the answer, waits included.")


class SearchOut(BaseModel):
    query: QueryOut
    metric: Metric
    higher_is_better: bool
    k: int
    structure: str = Field(description="The search structure, as a FAISS factory string.")
    exact: bool
    candidates: int | None = Field(description="Cosine candidates re-ranked by the metric (None for cosine).")
    hits: list[HitOut]
    timing: SearchTiming


class Scores(BaseModel):
    l1: float
    mse: float
    cosine: float
    ncc: float


class CompareTiming(BaseModel):
    decode_ms: float
    compare_ms: float = Field(description="Preprocessing both images and running the model on them.")
    total_ms: float


class CompareOut(BaseModel):
    """The two-image report: the four metrics on the preprocessed pixels and on the model's features."""

    a: QueryOut
    b: QueryOut
    pixels: Scores
    features: Scores
    model: str
    cifar_stem: bool
    weights: str
    input_size: int = Field(description="Both images are resized and cropped to this square first.")
    precision: str
    timing: CompareTiming


class Preprocessing(BaseModel):
    crop_size: int | None
    resize_size: int | None
    mean: list[float] | None
    std: list[float] | None
    interpolation: str | None


class StructureOut(BaseModel):
    kind: str | None = None
    factory: str
    reason: str | None = None
    ntotal: int
    pending: int
    dead: int
    nlist: int | None = None
    nprobe: int | None = None
    tuned_recall_at_10: float | None = None
    bytes: int | None = None
    built_at: float | None = None
    build_seconds: float | None = None


class UploadsOut(BaseModel):
    enabled: bool = Field(description="Whether uploads can be embedded (False for random weights, …).")
    ready: bool = Field(description="Whether the model is loaded; until then the first upload waits.")
    reason: str | None
    max_bytes: int
    max_pixels: int | None


class InfoOut(BaseModel):
    """The index overview."""

    location: str
    root: str
    version: str = Field(description="Changes whenever the index does.")
    images: int
    failed: int
    skipped: list[str] = Field(
        default_factory=list,
        description="The files the last indexing run passed over, one line per kind: a format whose reader "
        "is not installed (with the command that installs it), files of unknown type.",
    )
    formats: list[str] = Field(default_factory=list, description="The image formats this server reads.")
    extensions: list[str] = Field(
        default_factory=list, description="The file extensions of those formats (as an upload's name ends)."
    )
    dim: int
    model: str | None
    cifar_stem: bool | None
    weights: str | None
    fingerprint: str | None
    precision: str
    preprocessing: Preprocessing
    search: StructureOut | None
    disk_bytes: int
    created: float | None
    updated: float | None
    metrics: list[Metric]
    uploads: UploadsOut
    thumb_side: int


class MemberOut(BaseModel):
    id: int | None
    path: str
    keeper: bool
    kind: str = Field(
        description="keeper, or how it differs from the keeper, comma-separated: exact, an orientation "
        "('mirrored', 'rotated 90° clockwise', 'mirrored and rotated 180°', …), 'turned 0.8°', cropped, "
        "'border added', resized, or near-identical."
    )
    width: int
    height: int
    bytes: int
    ncc: float = Field(description="Coarse check: NCC of the 12×12 thumbnails with the keeper's.")
    rmse: float = Field(description="Coarse check: RMS difference of those thumbnails (0–1).")
    ssim: float = Field(1.0, description="Fine check: lowest tile SSIM with the keeper at up to 256 px.")
    colour: float = Field(0.0, description="Fine check: largest tile colour difference with the keeper.")
    thumb: str | None
    full: str | None
    sha256: str | None = Field(None, description="SHA-256 of the file's bytes (what decisions name).")


class GroupOut(BaseModel):
    """A group to review: the keeper first in ``members``, then the duplicates a move takes; ``apart``:
    members marked not duplicates of the keeper; ``stays``: files that are no duplicate of a keeper
    chosen by hand."""

    id: int = Field(description="The group's number in this result (for the review routes).")
    keeper: int | None
    kept_because: str = ""
    chosen: bool = Field(False, description="Whether the keeper was chosen by hand.")
    members: list[MemberOut]
    apart: list[MemberOut] = []
    stays: list[MemberOut] = []


class FailureOut(BaseModel):
    path: str
    reason: str


class JobOut(BaseModel):
    """A background job over the index (duplicates, inspection): ``idle`` until asked (POST), ``working``
    with its stage and progress, then ``done`` for this index version, or ``failed`` with why."""

    state: Literal["idle", "working", "done", "failed"]
    version: str
    stage: str | None
    done: int | None
    total: int | None
    started: float | None
    seconds: float | None
    error: str | None


class DuplicatesOut(JobOut):
    """The duplicates job (:class:`JobOut`), with the groups once done."""

    images: int | None
    duplicates: int | None
    groups: list[GroupOut]
    failures: list[FailureOut]
    resolved: int = Field(0, description="Groups found but resolved since: moved, or marked not duplicates.")
    can_move: bool = Field(False, description="Whether this server moves files (started with --move-to).")
    read_only: bool = Field(False, description="Whether this server refuses every change (--read-only).")


class KeeperIn(BaseModel):
    """Which file of a group to keep."""

    id: int = Field(ge=0, description="An image of the group.")
    version: str | None = Field(None, description="The version the page's groups were computed on.")


class DistinctIn(BaseModel):
    """Two indexed images that are not duplicates."""

    a: int = Field(ge=0)
    b: int = Field(ge=0)


class ForgetIn(BaseModel):
    """A "not duplicates" decision to take back, by the two files' SHA-256."""

    a: str = Field(min_length=64, max_length=64)
    b: str = Field(min_length=64, max_length=64)


class DecisionOut(BaseModel):
    kind: Literal["distinct", "keep"]
    a: str
    b: str | None
    a_path: str | None
    b_path: str | None
    decided: float


class DecisionsOut(BaseModel):
    """Every review decision, newest first."""

    decisions: list[DecisionOut]


class MoveIn(BaseModel):
    """Which groups to resolve by moving their duplicates (all when ``groups`` is null)."""

    groups: list[int] | None = None
    version: str | None = Field(None, description="The version the page's groups were computed on.")


class UndoIn(BaseModel):
    log: str = Field(max_length=200, description="The name of a move log in the move folder.")


class MoveLogOut(BaseModel):
    name: str
    created: str | None
    files: int | None


class MovesOut(BaseModel):
    """The move job (one at a time) and the move logs of the move folder."""

    state: Literal["idle", "working", "done", "failed"]
    kind: Literal["move", "undo"] | None
    done: int
    total: int
    log: str | None
    error: str | None
    restored: int | None
    finished: float | None
    move_to: str | None
    read_only: bool
    logs: list[MoveLogOut]


class InspectFindingOut(BaseModel):
    """One finding of the inspection: its kind, score (0–1, worse higher), the image (id, path, thumbnail)
    and, for copies, the other file; the evidence (measures, thresholds, splits, labels)."""

    kind: str
    score: float
    id: int | None
    path: str
    thumb: str | None
    other_id: int | None = None
    other_path: str | None = None
    other_thumb: str | None = None
    evidence: dict[str, str | int | float | None] = {}


class InspectOut(JobOut):
    """The inspection job (:class:`JobOut`), with the counts per kind and the findings once done."""

    images: int | None
    counts: dict[str, int]
    notes: list[str]
    findings: list[InspectFindingOut]
