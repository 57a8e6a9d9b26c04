"""The OpenAPI document declares what every operation answers: a JSON shape (an object with
named properties, never a free object) or a file's media type for its success status, and the
error shape for the errors it lists; real answers of the real app validate against it."""

from __future__ import annotations

import jsonschema_rs
import pytest

from countenance.rest import create_app

from .conftest import auth, upload

DOCUMENT = create_app().openapi()
SCHEMAS = DOCUMENT["components"]["schemas"]
OPERATIONS = [(method, path, operation) for path, operations in DOCUMENT["paths"].items()
              for method, operation in operations.items()]


def _resolved(schema: dict) -> list[dict]:
    """The object schemas ``schema`` stands for (through ``$ref`` and ``anyOf``)."""
    if "$ref" in schema:
        return _resolved(SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]])
    if "anyOf" in schema:
        return [s for option in schema["anyOf"] for s in _resolved(option)]
    return [schema]


def _success(operation: dict) -> tuple[str, dict]:
    (status,) = [code for code in operation["responses"] if code.startswith("2")]
    return status, operation["responses"][status]


def test_the_document_has_every_route():
    assert len(OPERATIONS) >= 40


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_every_operation_declares_its_answer(method, path, operation):
    status, response = _success(operation)
    (media_type, content), = response["content"].items()
    if media_type == "application/json":
        for shape in _resolved(content["schema"]):
            assert shape["type"] == "object" and shape["properties"], (method, path, shape)
            assert shape.get("additionalProperties") is False, (method, path, shape.get("title"))
    else:
        assert media_type in ("image/jpeg", "application/zip") and content["schema"] == {"type": "string", "format": "binary"}
    errors = {code: r for code, r in operation["responses"].items() if code[0] in "45"}
    if path not in ("/v1/health", "/v1/version"):
        assert {"401", "403", "422", "429"} <= set(errors), (method, path, sorted(errors))
    for code, error in errors.items():
        assert error["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Problem"}, (method, path, code)


def _validator(method: str, path: str, status: int):
    response = DOCUMENT["paths"][path][method]["responses"][str(status)]
    return jsonschema_rs.validator_for({**response["content"]["application/json"]["schema"], "components": DOCUMENT["components"]})


def _check(response, method: str, path: str, status: int = 200) -> dict:
    assert response.status_code == status, response.text[:300]
    answer = response.json()
    _validator(method, path, status).validate(answer)
    return answer


def test_real_answers_validate_against_their_schema(client, keys, fixtures):
    identify = auth(keys["identify"])
    found = _check(client.post("/v1/detect", files=upload(fixtures / "groups" / "t1.jpg"), headers=identify), "post", "/v1/detect")
    assert found["faces"] and all("model" not in face for face in found["faces"])  # a key the result lacks stays absent
    who = _check(client.post("/v1/identify", files=upload(fixtures / "probes" / "obama_and_biden.jpg"), headers=identify),
                 "post", "/v1/identify")
    assert {face["decision"] for face in who["faces"]} >= {"obama", "biden"}
    pair = _check(client.post("/v1/verify", files={**upload(fixtures / "probes" / "obama1.jpg"),
                                                   **upload(fixtures / "probes" / "obama-720p.jpg", "other")}, headers=identify),
                  "post", "/v1/verify")
    claim = _check(client.post("/v1/verify", files=upload(fixtures / "probes" / "obama1.jpg"), data={"subject": "obama"},
                               headers=identify), "post", "/v1/verify")
    assert pair["same"] and "a" in pair and claim["same"] and claim["subject"] == "obama"
    read = auth(keys["read"])
    page = _check(client.get("/v1/subjects", params={"limit": 2}, headers=read), "get", "/v1/subjects")
    assert len(page["subjects"]) == 2 and page["next_offset"] == 2 and page["total"] == 9
    _check(client.get("/v1/subjects/obama", headers=read), "get", "/v1/subjects/{name}")
    _check(client.get("/v1/gallery", headers=read), "get", "/v1/gallery")
    assert _check(client.get("/v1/library/status", headers=auth(keys["library"])), "get", "/v1/library/status") == {"available": False}
    _check(client.get("/v1/audit", params={"limit": 5}, headers=auth(keys["admin"])), "get", "/v1/audit")


def test_errors_validate_against_the_problem_schema(client, keys):
    read = auth(keys["read"])
    missing = _check(client.get("/v1/subjects/nobody-here", headers=read), "get", "/v1/subjects/{name}", 404)
    invalid = _check(client.get("/v1/subjects", params={"limit": 0}, headers=read), "get", "/v1/subjects", 422)
    refused = _check(client.get("/v1/audit", headers=read), "get", "/v1/audit", 403)
    assert missing["status"] == 404 and invalid["detail"][0]["loc"] == ["query", "limit"] and refused["status"] == 403
    with pytest.raises(ValueError):  # the validator is not a formality: a wrong shape fails
        _validator("get", "/v1/subjects", 200).validate({**missing, "subjects": []})
