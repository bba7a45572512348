"""Prometheus metrics at /metrics: requests, latencies, model time, library size and jobs."""

from __future__ import annotations

import time

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


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

    def install(self, app: Flask) -> None:
        @app.before_request
        def _start_timer():
            g.started = time.perf_counter()

        @app.after_request
        def _count(response):
            endpoint = request.endpoint or "unknown"
            self.requests.labels(endpoint, request.method, str(response.status_code)).inc()
            if "started" in g:
                self.latency.labels(endpoint).observe(time.perf_counter() - g.started)
            return response

    def exposition(self, images: int | None, job_states: list[str]) -> Response:
        if images is not None:
            self.images.set(images)
        for state in ("queued", "running", "done", "failed", "cancelled", "interrupted"):
            self.jobs.labels(state).set(job_states.count(state))
        return Response(generate_latest(self.registry), mimetype=CONTENT_TYPE_LATEST)
