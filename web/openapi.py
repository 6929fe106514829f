"""The OpenAPI 3.1 document, generated from the declared operations and their models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from web.api import Api, Operation

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem document",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
        "rule": {"type": "string"},
    },
    "required": ["type", "title", "status", "detail"],
}

COMMON_ERRORS = {400: "Bad request", 413: "Body too large", 422: "Invalid input"}
AUTH_ERRORS = {401: "Not signed in, or the token is expired or revoked", 403: "Not allowed for this role"}


def build_openapi(api: Api, *, title: str, version: str) -> dict[str, Any]:
    schemas = _component_schemas(api)
    paths: dict[str, dict[str, Any]] = {}
    for op in api.operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation_doc(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": {**schemas, "Problem": PROBLEM_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _component_schemas(api: Api) -> dict[str, Any]:
    models: set[type[BaseModel]] = set()
    for op in api.operations:
        models.update(model for model in (op.request, op.response) if model is not None)
    ordered = sorted(models, key=lambda model: model.__name__)
    inputs = [(model, "validation") for model in ordered]
    _, top = models_json_schema(inputs, ref_template="#/components/schemas/{model}")
    return dict(top.get("$defs", {}))


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation_doc(op: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "summary": op.summary,
        "operationId": op.handler.__name__,
        "tags": [op.tag],
        "responses": _responses(op),
    }
    if op.handler.__doc__:
        doc["description"] = " ".join(op.handler.__doc__.split())
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": _path_schema(name)}
        for name in _path_names(op.path)
    ]
    parameters += [
        {"name": q.name, "in": "query", "required": q.required, "schema": q.schema, "description": q.description}
        for q in op.query
    ]
    if parameters:
        doc["parameters"] = parameters
    if op.request is not None:
        doc["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(op.request)}}}
    if op.authenticated:
        doc["security"] = [{"bearer": []}]
    return doc


def _responses(op: Operation) -> dict[str, Any]:
    success: dict[str, Any] = {"description": "Success"}
    if op.response is not None:
        schema: dict[str, Any] = _ref(op.response)
        if op.response_is_list:
            schema = {"type": "array", "items": schema}
        success["content"] = {"application/json": {"schema": schema}}
    problem = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    errors = dict(COMMON_ERRORS)
    if op.authenticated:
        errors.update(AUTH_ERRORS)
    errors.update({status: "See the problem detail" for status in op.errors})
    responses = {str(op.status): success}
    responses.update({str(status): {"description": text, **problem} for status, text in sorted(errors.items())})
    return responses


def _path_schema(name: str) -> dict[str, Any]:
    """Ids and indexes are whole numbers; other path segments (a provider's name) are text."""
    if name.endswith("_id") or name == "index":
        return {"type": "integer", "minimum": 0 if name == "index" else 1}
    return {"type": "string"}


def _path_names(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]
