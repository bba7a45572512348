"""Jobs (admin): start, follow (long poll), cancel and resume the server's indexing, vocabulary and cluster jobs."""

from __future__ import annotations

import marshmallow as ma

from indexer.jobs import JOB_PARAMS

from ..openapi import ADMIN, CSRF_REFUSED, NOT_FOUND, Query, access, integer, number
from .base import JOB_KINDS, JOB_WAIT_LIMIT, Job, api, runner


class JobList(ma.Schema):
    jobs = ma.fields.List(ma.fields.Nested(Job))


def _params_description() -> str:
    return "; ".join(f"{kind}: {{{', '.join(schema().fields)}}}" for kind, schema in JOB_PARAMS.items())


class JobRequest(ma.Schema):
    error_messages = {"type": 'Send JSON like {"kind": "index", "params": {"folders": ["/photos"]}}.'}
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(JOB_KINDS))
    params = ma.fields.Dict(load_default=dict, metadata={"description": _params_description()})

    @ma.validates_schema
    def _params_of_kind(self, data: dict, **_) -> None:
        """The kind's own schema, as the job runner loads it: a wrong parameter is a 422 naming it."""
        if data.get("kind") in JOB_PARAMS:
            errors = JOB_PARAMS[data["kind"]]().validate(data.get("params") or {})
            if errors:
                raise ma.ValidationError(errors, "params")


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
