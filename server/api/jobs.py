"""Jobs (admin): start, follow (long poll), cancel and resume the server's indexing, vocabulary and cluster jobs."""

from __future__ import annotations

import marshmallow as ma

from ..openapi import ADMIN, CSRF_REFUSED, NOT_FOUND, Query, access, integer, number
from .base import JOB_KINDS, JOB_WAIT_LIMIT, Job, api, runner


class JobList(ma.Schema):
    jobs = ma.fields.List(ma.fields.Nested(Job))


class JobRequest(ma.Schema):
    error_messages = {"type": 'Send JSON like {"kind": "index", "params": {"folders": ["/photos"]}}.'}
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(JOB_KINDS))
    params = ma.fields.Dict(load_default=dict, metadata={"description": (
        "index: {folders: [absolute path], prune, reindex, force}; vocab: {entries: [word]} (none: the default "
        "vocabulary); cluster: {if_changed | relabel | rollback, seed, min_concept_size, sample_size}; search-index: "
        "{} (builds the search index where writes left it due)")})


class WaitQuery(Query):
    after = integer(-1, 2**53, "Wait until the job's version passes this.")
    wait = number(0, JOB_WAIT_LIMIT, "Longest wait in seconds.", load_default=10)


@api.get("/jobs", tags=["jobs"])
@api.response(200, JobList, description="Jobs")
@access(api, ADMIN)
def jobs():
    """Recent jobs, newest first"""
    return {"jobs": [j.to_dict() for j in runner().list()]}


@api.post("/jobs", tags=["jobs"])
@api.arguments(JobRequest)
@api.response(202, Job, description="Queued")
@access(api, ADMIN, CSRF_REFUSED)
def start_job(body: dict):
    """Start a job: index folders on the server, embed vocabulary, cluster concepts"""
    return runner().submit(body["kind"], body["params"] or {}).to_dict()


@api.get("/jobs/<job_id>", tags=["jobs"])
@api.arguments(WaitQuery, location="query")
@api.response(200, Job, description="The job")
@access(api, ADMIN, NOT_FOUND)
def job(query: dict, job_id: str):
    """A job; with `after`, waits until it changes (long poll)"""
    if query.get("after") is None:
        return runner().get(job_id).to_dict()
    return runner().wait(job_id, query["after"], query["wait"]).to_dict()


@api.post("/jobs/<job_id>/cancel", tags=["jobs"])
@api.response(200, Job, description="The job")
@access(api, ADMIN, {**NOT_FOUND, **CSRF_REFUSED})
def cancel_job(job_id: str):
    """Stop a job; what it finished is kept"""
    return runner().cancel(job_id).to_dict()


@api.post("/jobs/<job_id>/resume", tags=["jobs"])
@api.response(202, Job, description="The new job")
@access(api, ADMIN, {**NOT_FOUND, **CSRF_REFUSED})
def resume_job(job_id: str):
    """Run an interrupted, failed or cancelled job again"""
    return runner().resume(job_id).to_dict()
