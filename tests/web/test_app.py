"""``create_app``: the assembled app (every router, the static files, one shared state), its OpenAPI
schema and local API reference, traversal attempts through every route and mount, a missing index, and a
schema-driven fuzz run of every operation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="needs the web extra: pip install 'lookalike[web]'")

from lookalike.errors import LookalikeError
from lookalike.web.app import DEFAULT_UPLOAD_LIMIT, create_app
from lookalike.web.routes import API_ROUTERS, pages
from lookalike.web.state import AppState
from web_support import TestClient, needs_shared, raw_request

pytestmark = needs_shared


def test_api_reference_is_local_and_the_schema_describes_every_route(client: TestClient) -> None:
    assert client.get("/docs").status_code == 404  # FastAPI's Swagger UI would load from a CDN
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and "/static/api.js" in docs.text
    schema = client.get("/api/openapi.json").json()
    paths = schema["paths"]
    for path, methods in {
        "/api/info": {"get"},
        "/api/images": {"get"},
        "/api/images/{image_id}": {"get"},
        "/api/images/{image_id}/thumb": {"get"},
        "/api/images/{image_id}/full": {"get"},
        "/api/search": {"get", "post"},
        "/api/compare": {"get", "post"},
        "/api/duplicates": {"get", "post"},
    }.items():
        assert set(paths[path]) == methods, path
    upload = paths["/api/search"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert upload["properties"]["file"]["format"] == "binary"
    ok = paths["/api/search"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/SearchOut")
    errors = paths["/api/search"]["get"]["responses"]["422"]["content"]["application/json"]["schema"]
    assert errors["$ref"].endswith("/ErrorOut")  # the one-line errors, not FastAPI's list of dicts


TRAVERSALS = [
    "/api/images/../../../../etc/passwd/full",
    "/api/images/..%2f..%2f..%2fetc%2fpasswd/full",
    "/api/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd/thumb",
    "/api/images/%252e%252e%252fetc%252fpasswd/full",
    "/api/images/..%5c..%5cetc%5cpasswd/full",
    "/api/images/..\\..\\etc\\passwd/full",
    "/api/images/%2fetc%2fpasswd/full",
    "/api/images//etc/passwd/full",
    "/api/images/1/../../../../etc/passwd",
    "/api/images/1%2f..%2f..%2fsecret.jpg/full",
    "/static/../../../../etc/passwd",
    "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/static/%2e%2e/%2e%2e/app.py",
    "/static/%252e%252e%252fapp.py",
    "/static/..\\app.py",
    "/static//etc/passwd",
    "/static/../app.py",
    "/api/search?id=../../../../etc/passwd",
    "/api/search?id=%2Fetc%2Fpasswd",
    "/api/search?id=..%2F..%2Foutside%2Fsecret.jpg",
    "/api/compare?a=../outside/secret.jpg&b=1",
    "/api/images/..%2f..%2foutside%2fsecret.jpg/full",
]


@pytest.mark.parametrize("raw", TRAVERSALS)
def test_path_traversal_in_any_form_gets_4xx(web: Any, site: Path, raw: str) -> None:
    status, body = asyncio.run(raw_request(web, raw))
    assert 400 <= status < 500, (raw, status)
    assert b"root:" not in body
    assert (site.parent.parent / "outside" / "secret.jpg").read_bytes() not in body
    assert (
        Path(__file__).resolve().parents[2] / "src" / "lookalike" / "web" / "app.py"
    ).read_bytes() not in body


def test_a_missing_index_is_a_clear_error(tmp_path: Path) -> None:
    from lookalike.errors import StoreError

    with pytest.raises(StoreError, match="lookalike index FOLDER"):
        create_app(tmp_path / "nothing-here")


FUZZ_EXAMPLES = 15  # per operation and mode (valid and invalid input): a few hundred requests in all


@pytest.fixture()
def read_only(site: Path) -> Iterator[Any]:
    """The app over the shared collection, read-only: fuzzed requests must not leave decisions in it."""
    application = create_app(site, warm=False, read_only=True)
    yield application
    application.state.collection.close()


@pytest.mark.slow
def test_fuzz_every_operation_from_the_schema_without_a_server_error(read_only: Any) -> None:
    """schemathesis generates valid and invalid requests for every operation of /api/openapi.json and
    sends them to the app in process; no answer may be a 5xx, every error is one line of JSON, and every
    answer matches the schema (status codes, content types, bodies). (The changes are refused by the
    read-only app; tests/web/test_review.py makes them.)"""
    web = read_only
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode, checks

    schema = schemathesis.openapi.from_asgi("/api/openapi.json", web)
    validations = [
        checks.not_a_server_error,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_schema_conformance,
    ]
    sent: dict[str, int] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 22

    def fuzz(operation: Any, mode: Any) -> None:
        label = f"{operation.method.upper()} {operation.path}"

        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            response = case.call()
            sent[label] = sent.get(label, 0) + 1
            assert response.status_code < 500, f"{label}: {response.status_code} {response.text[:300]}"
            if response.status_code >= 400:
                detail = response.json().get("detail")
                assert isinstance(detail, str) and "\n" not in detail, response.text[:300]
            case.validate_response(response, checks=validations)

        run()

    for operation in operations:
        fuzz(operation, GenerationMode.POSITIVE)
        try:
            fuzz(operation, GenerationMode.NEGATIVE)
        except Unsatisfiable:  # no parameters and no body: nothing invalid to send
            assert not operation.query and not operation.path_parameters and not operation.body, operation
    print(f"\nfuzz: {sum(sent.values())} requests: " + ", ".join(f"{k} {v}" for k, v in sent.items()))
    for op in operations:  # every operation was exercised, those with inputs many times
        n = sent.get(f"{op.method.upper()} {op.path}", 0)
        assert n >= (5 if op.query or op.path_parameters or op.body else 1), sent


def test_create_app_includes_every_router_and_shares_one_state(web: Any, site: Path) -> None:
    state = web.state.lookalike
    assert isinstance(state, AppState) and state.collection is web.state.collection
    assert state.upload_limit == DEFAULT_UPLOAD_LIMIT == 20 * 1024 * 1024 and state.max_pixels is None
    assert state.thumb_side == 256 and state.draft == (32, 32)  # the index's resize side
    schema_paths = set(web.openapi()["paths"])
    for router in API_ROUTERS:
        assert router.routes, router
        for route in router.routes:
            assert route.path in schema_paths, route.path  # type: ignore[attr-defined]
    assert {r.path for r in pages.router.routes} == {"/", "/api/docs", "/favicon.ico"}  # type: ignore[attr-defined]


def test_create_app_refuses_an_upload_limit_below_one_byte(site: Path) -> None:
    with pytest.raises(LookalikeError, match="at least 1 byte, got 0"):
        create_app(site, upload_limit=0, warm=False)
