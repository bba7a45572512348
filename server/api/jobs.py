"""Jobs (admin): start, follow (long poll, or every job live as Server-Sent Events), cancel and resume the server's
indexing, vocabulary, cluster, search-index and backup jobs."""

from __future__ import annotations

import json
import time

import marshmallow as ma
from flask import Response

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


EVENTS_SECONDS = 300  # a stream ends after this (it holds a server thread); the browser's EventSource reconnects
HEARTBEAT_SECONDS = 15  # a comment line when nothing changed, so proxies keep the connection
LIVE_JOBS = 20  # the recent jobs each event holds


@api.get("/jobs/events", tags=["jobs"])
@api.doc(responses={200: {"description": "Server-Sent Events: a `jobs` event (the recent jobs, newest first, as "
                                         "JSON) at once and whenever any job changes",
                          "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
@access(api, ADMIN)
def job_events():
    """Every job, live: progress pushed as it happens (one connection per page, not a poll per second)"""
    jobs = runner()

    def stream():
        version: int | None = -1
        ends = time.monotonic() + EVENTS_SECONDS
        while time.monotonic() < ends:
            seen = jobs.wait_any(version, HEARTBEAT_SECONDS)
            if seen is None:  # the server is stopping
                return
            if seen == version:
                yield ": nothing new\n\n"
                continue
            version = seen
            yield f"event: jobs\nid: {version}\ndata: {json.dumps([j.to_dict() for j in jobs.list(LIVE_JOBS)])}\n\n"

    return Response(stream(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


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
