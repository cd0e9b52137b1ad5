"""The OpenAPI document is valid OpenAPI 3.1, covers every API route, and real responses fit it."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_spec

from webutil import TRAD_ID, web_app, web_client, web_index  # noqa: F401


@pytest.fixture
def spec(web_client) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    resp = web_client.get("/api/openapi.json")
    assert resp.status_code == 200
    return resp.get_json()


def _check(spec: dict[str, Any], path: str, status: int, body: Any) -> None:
    """Validate ``body`` against the response schema the document gives for path/status."""
    media = spec["paths"][path]["get"]["responses"][str(status)]["content"]["application/json"]
    # Components are resolved against the document root, as OpenAPI does.
    schema = {**media["schema"], "components": spec["components"]}
    OAS31Validator(schema).validate(body)


def test_document_is_valid_openapi_31(spec) -> None:
    assert spec["openapi"].startswith("3.1")
    validate_spec(spec)  # raises on any violation of the OpenAPI 3.1 schema and rules


def test_every_api_route_is_documented(spec, web_app) -> None:
    documented = set(spec["paths"])
    for rule in web_app.url_map.iter_rules():
        if rule.rule.startswith("/api/") or rule.rule == "/healthz":
            assert rule.rule.replace("<aid:article_id>", "{id}") in documented, rule.rule


def test_real_responses_fit_the_schemas(spec, web_client) -> None:
    cases = [
        ("/api/search", "/api/search?q=监督&size=3", 200),
        ("/api/search", "/api/search?q=巡察整改&collapse=false&sort=newest", 200),
        ("/api/search", "/api/search?q=不存在的词汇组合", 200),
        ("/api/search", "/api/search?q=监督&page=abc", 400),
        ("/api/search", "/api/search?q=监督&from=2024-05-01&to=2024-01-01", 400),
        ("/api/articles/{id}", f"/api/articles/{TRAD_ID}", 200),
        ("/api/articles/{id}", "/api/articles/nope", 404),
        ("/healthz", "/healthz", 200),
    ]
    for path, url, status in cases:
        resp = web_client.get(url)
        assert resp.status_code == status, (url, resp.get_data(as_text=True)[:200])
        _check(spec, path, status, resp.get_json())


def test_schemas_reject_what_they_should(spec) -> None:
    """The response schemas are strict enough to catch a drifting API."""
    with pytest.raises(ValidationError):
        _check(spec, "/api/search", 200, {"ok": True, "query": "x", "total": "3"})
    with pytest.raises(ValidationError):
        _check(spec, "/api/search", 400, {"ok": False, "error": "x"})


def test_csv_parameters_are_documented(spec) -> None:
    names = {p["name"] for p in spec["paths"]["/api/search.csv"]["get"]["parameters"]}
    assert {"q", "from", "to", "source", "region", "category", "sort", "limit"} <= names
    search_names = {p["name"] for p in spec["paths"]["/api/search"]["get"]["parameters"]}
    assert {"q", "page", "size", "sort", "from", "to", "source", "region", "category",
            "collapse", "cluster"} <= search_names
