"""Shapes shared by every resource: problem details and list pages."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Input(BaseModel):
    """Request bodies: an unknown field is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class FieldProblem(BaseModel):
    pointer: str | None = Field(None, description="JSON Pointer into the body, e.g. `#/name`")
    parameter: str | None = Field(None, description="The query parameter at fault")
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details, sent as `application/problem+json`."""

    type: str = Field(description="`about:blank` or `urn:billcycle:problem:<kind>`")
    title: str
    status: int
    detail: str
    instance: str = Field(description="The request's path")
    errors: list[FieldProblem] | None = Field(None, description="Field validation failures")


class ListPage(BaseModel, Generic[T]):
    data: list[T]
    next: str | None = Field(description="The next page's URL, null on the last page")


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses (the app's document files them
    under ``application/problem+json``, see :func:`billcycle.admin.app.problem_media`)."""
    return {status: {"model": Problem} for status in statuses}


# What any admin route can answer: no or a bad operator key, an unknown object, bad input.
PROBLEM_RESPONSES = problems(401, 404, 422)
