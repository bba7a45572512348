"""Jobs (admin): start, follow (long poll), cancel and resume the server's indexing, vocabulary and cluster jobs."""

from __future__ import annotations

from flask import request

from indexer.errors import UsageError

from .base import JOB, JOB_REQUEST, JOB_WAIT_LIMIT, Param, json_content, api, runner, spec


# -- jobs (admin) -----------------------------------------------------------------------------------------------------

JOB_ID = (Param("job_id", {"type": "string"}, location="path"),)


@api.get("/jobs")
@spec.operation("/jobs", "GET", "Recent jobs, newest first", tags=("jobs",), auth="admin",
                responses={200: json_content("Jobs", {"type": "object", "properties": {
                    "jobs": {"type": "array", "items": JOB}}})})
def jobs(query):
    return {"jobs": [j.to_dict() for j in runner().list()]}


@api.post("/jobs")
@spec.operation("/jobs", "POST", "Start a job (index folders on the server, embed vocabulary)", tags=("jobs",),
                auth="admin", body=JOB_REQUEST, responses={202: json_content("Queued", JOB)})
def start_job(query):
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("kind"), str):
        raise UsageError("Send JSON like {\"kind\": \"index\", \"params\": {\"folders\": [\"/photos\"]}}.")
    params = body.get("params") or {}
    if not isinstance(params, dict):
        raise UsageError("`params` must be an object.")
    return runner().submit(body["kind"], params).to_dict(), 202


@api.get("/jobs/<job_id>")
@spec.operation("/jobs/<job_id>", "GET", "A job; with `after`, waits until it changes (long poll)", tags=("jobs",),
                auth="admin", params=JOB_ID + (
                    Param("after", {"type": "integer", "minimum": -1, "maximum": 2**53},
                          "Wait until the job's version passes this."),
                    Param("wait", {"type": "number", "minimum": 0, "maximum": JOB_WAIT_LIMIT, "default": 10},
                          "Longest wait in seconds.")),
                responses={200: json_content("The job", JOB), 404: "Not found"})
def job(query, job_id: str):
    if query["after"] is None:
        return runner().get(job_id).to_dict()
    return runner().wait(job_id, query["after"], query["wait"]).to_dict()


@api.post("/jobs/<job_id>/cancel")
@spec.operation("/jobs/<job_id>/cancel", "POST", "Stop a job; what it finished is kept", tags=("jobs",),
                auth="admin", params=JOB_ID, responses={200: json_content("The job", JOB), 404: "Not found"})
def cancel_job(query, job_id: str):
    return runner().cancel(job_id).to_dict()


@api.post("/jobs/<job_id>/resume")
@spec.operation("/jobs/<job_id>/resume", "POST", "Run an interrupted, failed or cancelled job again",
                tags=("jobs",), auth="admin", params=JOB_ID, responses={202: json_content("The new job", JOB),
                                                                        404: "Not found"})
def resume_job(query, job_id: str):
    return runner().resume(job_id).to_dict(), 202
