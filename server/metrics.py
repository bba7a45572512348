"""Prometheus metrics at /metrics: requests and their latency per route, model time, library size, and jobs (by
state, the queue's length, how long finished ones ran, failures)."""

from __future__ import annotations

import time
from datetime import datetime

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
JOB_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
JOB_STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("pixcept_http_requests", "HTTP requests", ["endpoint", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram("pixcept_http_request_seconds", "HTTP request time", ["endpoint"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.searches = Histogram("pixcept_search_seconds", "Time to answer a search, model included", ["kind"],
                                  buckets=LATENCY_BUCKETS, registry=self.registry)
        self.images = Gauge("pixcept_images", "Images in the library", registry=self.registry)
        self.jobs = Gauge("pixcept_jobs", "Jobs by state", ["state"], registry=self.registry)
        self.queue = Gauge("pixcept_job_queue_length", "Jobs waiting to run", registry=self.registry)
        self.job_seconds = Histogram("pixcept_job_seconds", "Time a finished job ran", ["kind", "state"],
                                     buckets=JOB_BUCKETS, registry=self.registry)
        self.job_failures = Counter("pixcept_job_failures", "Jobs that failed", ["kind"], registry=self.registry)
        self._counted: set[str] = set()  # finished jobs already in the histogram

    def install(self, app: Flask) -> None:
        """Count and time every request (timed from when `logs.install`'s hook gave it its ID)."""

        @app.after_request
        def _count(response):
            endpoint = request.endpoint or "unknown"
            self.requests.labels(endpoint, request.method, str(response.status_code)).inc()
            if "request_started" in g:
                self.latency.labels(endpoint).observe(time.perf_counter() - g.request_started)
            return response

    def exposition(self, images: int | None, jobs: list) -> Response:
        """The metrics now; `jobs`: the job runner's jobs (finished ones are counted once, when first seen)."""
        if images is not None:
            self.images.set(images)
        states = [job.state for job in jobs]
        for state in JOB_STATES:
            self.jobs.labels(state).set(states.count(state))
        self.queue.set(states.count("queued"))
        for job in jobs:
            if job.finished and job.id not in self._counted:
                self._counted.add(job.id)
                if job.started_at and job.finished_at:
                    seconds = (datetime.fromisoformat(job.finished_at) - datetime.fromisoformat(job.started_at))
                    self.job_seconds.labels(job.kind, job.state).observe(seconds.total_seconds())
                if job.state == "failed":
                    self.job_failures.labels(job.kind).inc()
        return Response(generate_latest(self.registry), mimetype=CONTENT_TYPE_LATEST)
