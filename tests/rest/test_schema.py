"""schemathesis over the OpenAPI schema, against the real app on a loopback port: without a
key every route but the public ones is refused (401), with a key of another scope too (403);
with an admin key no generated request, valid or not, gets a 5xx, and every answer, success or
error, has the status, media type and shape the document declares."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from countenance.rest import create_app

from .conftest import auth, running_server, settings_for

PUBLIC = {"/v1/health", "/v1/version"}
ANY_KEY = {"/v1/outcomes/{outcome_id}", "/v1/me"}  # any valid key, whatever its scopes (the page asks /v1/me which sections to show)
LIBRARY = "/v1/library/"
CONFORMS = [status_code_conformance, content_type_conformance, response_schema_conformance]
BOUNDED = settings(max_examples=6, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))


DOCUMENT = create_app().openapi()


def _schema(mode: GenerationMode):
    schema = schemathesis.openapi.from_dict(DOCUMENT)
    schema.config.generation.update(modes=[mode], with_security_parameters=False)
    return schema


def _can_be_invalid(method: str, path: str) -> bool:
    """Whether any input of the operation can be invalid (a body, or a parameter that is not
    a free string): for the others schemathesis has no invalid request to make."""
    operation = DOCUMENT["paths"].get(path, {}).get(method)
    if operation is None:  # a method the path does not have: schemathesis checks it is refused
        return True
    def free_string(parameter: dict) -> bool:
        return {k: v for k, v in parameter.get("schema", {}).items() if k != "title"} == {"type": "string"}

    return "requestBody" in operation or not all(free_string(p) for p in operation.get("parameters", []))


valid = _schema(GenerationMode.POSITIVE)
invalid = _schema(GenerationMode.NEGATIVE).exclude(func=lambda ctx: not _can_be_invalid(ctx.operation.method.lower(), ctx.operation.path))


@pytest.fixture(scope="module")
def server(gallery, fixtures):
    with running_server(settings_for(gallery, fixtures)) as url:
        yield url


def _without_keys(case) -> None:
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in ("authorization", "x-api-key")}


@valid.parametrize()
@BOUNDED
def test_no_route_without_its_scope_and_no_5xx(case, server, keys):
    _without_keys(case)
    anonymous = case.call(base_url=server)
    if case.path in PUBLIC:
        assert anonymous.status_code == 200
    else:
        assert anonymous.status_code == 401, (case.method, case.path, anonymous.status_code)
    if case.path not in PUBLIC | ANY_KEY:
        other = keys["identify"] if case.path.startswith(LIBRARY) else keys["library"]
        wrong = case.call(base_url=server, headers=auth(other))
        assert wrong.status_code == 403, (case.method, case.path, wrong.status_code)
    admin = case.call(base_url=server, headers=auth(keys["admin"]))
    assert admin.status_code < 500, (case.method, case.path, admin.status_code, admin.text[:300])
    case.validate_response(admin, checks=CONFORMS)


@invalid.parametrize()
@BOUNDED
def test_invalid_requests_get_4xx_never_5xx(case, server, keys):
    _without_keys(case)
    admin = case.call(base_url=server, headers=auth(keys["admin"]))
    assert admin.status_code < 500, (case.method, case.path, admin.status_code, admin.text[:300])
    if admin.status_code >= 400:
        assert "Traceback" not in admin.text
    case.validate_response(admin, checks=CONFORMS)
