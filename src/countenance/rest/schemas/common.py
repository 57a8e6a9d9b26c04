"""Shapes every route group uses: a face box, the page envelope of every list, the error
answer; and :class:`Router`, whose routes answer only the keys their result has."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, create_model

__all__ = ["Shape", "Box", "Point", "Number", "shape_of", "paged", "Problem", "PROBLEMS", "binary", "Router"]


class Shape(BaseModel):
    """An answer's shape: a key the shape does not declare is a bug (the answer is refused,
    not sent half-described)."""

    model_config = ConfigDict(extra="forbid")


Box = Annotated[list[float], Field(min_length=4, max_length=4, description="[left, top, right, bottom] in pixels.")]
Point = Annotated[list[float], Field(min_length=2, max_length=2, description="[x, y] in pixels.")]
#: A number kept as given: an integer stays an integer in the answer.
Number = int | float


def shape_of(record: type, *, drop: tuple[str, ...] = (), optional: bool = False, leading: dict[str, Any] | None = None,
             doc: str | None = None, **json_types: Any) -> type[Shape]:
    """The shape of a service record's JSON (its ``to_dict``, ``asdict`` or ``to_document``): its
    dataclass fields in order, typed from their annotations (a nested record becomes its shape,
    a tuple a list), so a field is declared once. ``drop``: fields the answer leaves out;
    ``json_types``: fields whose JSON is not their annotation; ``leading``: fields before them;
    ``optional``: the record's fields may all be absent; ``doc``: the description (default: the record's)."""
    hints = typing.get_type_hints(record)
    fields: dict[str, Any] = dict(leading or {})
    for field in dataclasses.fields(record):
        if field.name not in drop:
            kind = json_types.get(field.name, _json_type(hints[field.name]))
            fields[field.name] = (kind | None, None) if optional else (kind, ...)
    return create_model(record.__name__, __base__=Shape, __doc__=doc or record.__doc__, __module__=__name__, **fields)


@functools.cache
def _record_shape(record: type) -> type[Shape]:  # once per record: one schema in the document
    return shape_of(record)


def _json_type(hint: Any) -> Any:
    if dataclasses.is_dataclass(hint):
        return _record_shape(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return functools.reduce(lambda a, b: a | b, (_json_type(a) for a in args))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return list[_json_type(args[0])]  # type: ignore[misc]
    return hint


def paged(name: str, key: str, item: Any, doc: str, **leading: Any) -> type[Shape]:
    """The page envelope of every list route: ``{**leading, key: [item, ...], "total", "offset",
    "limit", "next_offset"}`` (``next_offset`` null on the last page)."""
    fields: dict[str, Any] = {
        **leading,
        key: (list[item], ...),
        "total": (int, Field(description="How many there are in all.")),
        "offset": (int, Field(description="How many were skipped.")),
        "limit": (int, Field(description="At most this many on the page.")),
        "next_offset": (int | None, Field(description="The offset of the next page; null on the last page.")),
    }
    return create_model(name, __base__=Shape, __doc__=doc, __module__=__name__, **fields)


class Issue(Shape):
    loc: list[str | int] = Field(description="Where in the request: the part, then the field.")
    msg: str


class Problem(Shape):
    """Every error: ``{"status", "title", "detail"}``; a 503 whose work goes on also names its
    ``outcome`` (GET /v1/outcomes/{outcome_id})."""

    status: int
    title: str
    detail: str | list[Issue] = Field(description="What was wrong (for 422: each invalid field).")
    outcome: str | None = Field(default=None, description="503 only: the id of the work that goes on.")


_ERRORS = {400: "refused: the request cannot be done as asked", 401: "no valid key",
           403: "the key lacks the route's scope", 404: "not found", 409: "conflicts with what is stored",
           413: "request too large", 415: "not an image that can be read", 422: "invalid request",
           429: "too many requests (Retry-After says when to retry)", 503: "busy, or timed out while the work goes on"}

#: The error answers of the routes that need a key.
PROBLEMS: dict[int | str, dict[str, Any]] = {code: {"model": Problem, "description": text} for code, text in _ERRORS.items()}


def binary(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that answers a file (an image, a zip), not JSON."""
    return {200: {"content": {media_type: {"schema": {"type": "string", "format": "binary"}}}, "description": description}}


class Router(APIRouter):
    """An APIRouter whose answers hold only the keys their result has (a face without
    landmarks has no ``landmarks`` key, as before the shapes were declared)."""

    def add_api_route(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        kwargs["response_model_exclude_unset"] = True
        super().add_api_route(path, endpoint, **kwargs)
