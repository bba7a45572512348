"""The parameters each kind of job takes: one marshmallow schema per kind, which the job runner loads before a job
is queued and the jobs API shows (and checks) in its OpenAPI document, so both hold one rule."""

from __future__ import annotations

import marshmallow as ma

from ..errors import UsageError

F = ma.fields
CLUSTER_FLAGS = ("if_changed", "relabel", "rollback")
CLUSTER_NUMBERS = {"seed": (0, 2**31), "min_concept_size": (2, 100_000), "sample_size": (1000, 10_000_000)}
TUNING_LIMITS = {"batch_size": 1024, "workers": 64}  # index job options, capped as the CLI caps them


def _whole(low: int, high: int, description: str) -> F.Integer:
    return F.Integer(strict=True, allow_none=True, validate=ma.validate.Range(low, high),
                     metadata={"description": description})


class _Params(ma.Schema):
    class Meta:
        unknown = ma.RAISE  # a misspelt parameter is said, not silently ignored

    @ma.post_load
    def _drop_unset(self, data: dict, **_) -> dict:
        return {key: value for key, value in data.items() if value is not None}


class IndexParams(_Params):
    folders = F.List(F.String(), required=True, validate=ma.validate.Length(min=1),
                     metadata={"description": "Absolute paths of folders on the server"})
    prune = F.Boolean(load_default=False, metadata={"description": "Remove images whose files are gone"})
    reindex = F.Boolean(load_default=False, metadata={"description": "Rebuild every vector with the server's model"})
    model = F.String(load_default=None, validate=ma.validate.Length(1, 1000), metadata={
        "description": "With reindex: switch to this model (ARCH:TAG, ARCH:/weights.pt, local-dir:/folder), built "
                       "beside the current vectors while searches go on, then switched to"})
    force = F.Boolean(load_default=False, metadata={"description": "Prune or reindex even where folders lost most "
                                                                   "of their images"})
    batch_size = _whole(1, TUNING_LIMITS["batch_size"], "Images embedded at once")
    workers = _whole(1, TUNING_LIMITS["workers"], "Decoding threads")


class VocabParams(_Params):
    entries = F.List(F.String(), load_default=list, metadata={"description": "Words or phrases to add; none: the "
                                                                             "default vocabulary"})
    version = F.String(allow_none=True, validate=ma.validate.Length(max=200),
                       metadata={"description": "Where the entries came from (a file name)"})


class ClusterParams(_Params):
    if_changed = F.Boolean(load_default=False, metadata={"description": "Only when a run is due"})
    relabel = F.Boolean(load_default=False, metadata={"description": "New labels, without refitting"})
    rollback = F.Boolean(load_default=False, metadata={"description": "Make the previous run current again"})
    seed = _whole(*CLUSTER_NUMBERS["seed"], "Reproducible fit")
    min_concept_size = _whole(*CLUSTER_NUMBERS["min_concept_size"], "Smallest concept")
    sample_size = _whole(*CLUSTER_NUMBERS["sample_size"], "Fit on at most this many images")

    @ma.validates_schema
    def _one_mode(self, data: dict, **_) -> None:
        if sum(bool(data.get(flag)) for flag in CLUSTER_FLAGS) > 1:
            raise ma.ValidationError("Choose one of if_changed, relabel and rollback.")

    @ma.post_load
    def _only_set_flags(self, data: dict, **_) -> dict:
        return {key: value for key, value in data.items() if value is not False}


class BackupParams(_Params):
    destination = F.String(required=True, validate=ma.validate.Length(1, 4096), metadata={
        "description": "Absolute path, on the server, of a folder that does not exist yet (or is empty)"})
    thumbnails = F.Boolean(load_default=True, metadata={"description": "Copy the thumbnails too"})


class RemoveFolderParams(_Params):
    folder = F.String(required=True, validate=ma.validate.Length(1, 4096),
                      metadata={"description": "One of the indexed folders, as the library lists it"})
    prune = F.Boolean(load_default=False, metadata={"description": "Also remove its images from the library"})


class ThumbnailsParams(_Params):
    """None: it makes every missing thumbnail again."""


class SearchIndexParams(_Params):
    """None: it builds the search index where writes left it due."""


class CheckParams(_Params):
    """None: it checks the whole library (`indexer/integrity.py`)."""


JOB_PARAMS: dict[str, type[ma.Schema]] = {"index": IndexParams, "vocab": VocabParams, "cluster": ClusterParams,
                                          "search-index": SearchIndexParams, "backup": BackupParams,
                                          "remove-folder": RemoveFolderParams, "thumbnails": ThumbnailsParams,
                                          "check": CheckParams}
JOB_KINDS = tuple(JOB_PARAMS)


def load_params(kind: str, params: dict | None) -> dict:
    """The parameters of a job of this kind, loaded by its schema; UsageError naming every problem."""
    if kind not in JOB_PARAMS:
        raise UsageError(f"Unknown job kind {kind!r}; known: {', '.join(JOB_KINDS)}.")
    try:
        return JOB_PARAMS[kind]().load(params or {})
    except ma.ValidationError as exc:
        raise UsageError(f"The {kind} job's parameters are wrong: {describe(exc.messages)}") from None


def describe(messages: object, where: str = "") -> str:
    """marshmallow's nested messages as one line: "folders: Missing data for required field."."""
    if isinstance(messages, dict):
        return " ".join(describe(value, f"{where}{key}: " if key != "_schema" else where)
                        for key, value in messages.items())
    if isinstance(messages, list):
        return " ".join(describe(message, where) for message in messages)
    return f"{where}{messages}"
