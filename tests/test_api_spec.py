"""The OpenAPI document: valid by a spec validator, and the API fuzzed against it with schemathesis."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import positive_data_acceptance

from indexer.concepts.job import run_cluster
from indexer.config import ServerConfig, Settings
from indexer.index import index_folders
from indexer.library import Library
from server.app import create_app

from conftest import NO_SCHEDULE
from helpers import make_library

READ_TOKEN = "fuzz-read-token"


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_model_spec):
    root = tmp_path_factory.mktemp("spec")
    make_library(root / "photos", 40)
    settings = Settings(data_dir=root / "data", model=tiny_model_spec, device="cpu", schedule=NO_SCHEDULE)
    with Library.open(settings) as library:
        index_folders(library, [root / "photos"])
        run_cluster(library, {"min_concept_size": 5, "seed": 0})  # concept routes answer with data, not 409
    app = create_app(settings, ServerConfig(read_token=READ_TOKEN, run_jobs_in_worker=False, searches_per_minute=0))
    yield app
    app.extensions["pixcept"].stop()


def test_openapi_document_is_valid_and_complete(app):
    document = app.test_client().get("/api/openapi.json").get_json()
    validate(document)
    routes = {rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")}
    documented = {path.replace("{", "<").replace("}", ">") for path in document["paths"]}
    assert routes == documented  # every API route is in the document, and nothing else
    search = document["paths"]["/api/search"]["get"]
    assert {p["name"] for p in search["parameters"]} >= {"q", "upload", "like", "folder", "from", "to", "limit"}
    assert "403" in document["paths"]["/api/jobs"]["post"]["responses"]


def test_api_conforms_to_its_document(app):
    """Every operation, fuzzed: no 500s, only documented status codes and content types, bodies as documented.
    With the read token only: fuzzed jobs must never index a real folder such as "/"; they are checked as 403s.
    Schemathesis also checks that leaving the token out is refused."""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    # Rules OpenAPI cannot state, so schema-valid requests may still be refused with a 400: a search needs words,
    # an upload or a `like` image; an upload's bytes must be an image; words hold no control characters.
    # An export names one source: IDs or a map area (and a background export: or a selection, a concept, words).
    cross_field_rules = {"/api/search", "/api/uploads", "/api/concepts/search", "/api/search/export",
                         "/api/images/export", "/api/exports"}
    for operation in operations:
        excluded = [positive_data_acceptance] if operation.path in cross_field_rules else []

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {READ_TOKEN}"}, excluded_checks=excluded)

        check()
