"""OpenAPI v3 documents of the served API: what kubectl explain, kubectl apply and field validation read."""

from kubeprov.apiserver.openapi.crd import component_name, crd_schemas
from kubeprov.apiserver.openapi.document import api_path, content_hash, openapi_document, openapi_index, serialize
from kubeprov.apiserver.openapi.schemas import BuiltinSchemas
from kubeprov.apiserver.openapi.service import OpenAPIResponse, OpenAPIService

__all__ = [
    "BuiltinSchemas",
    "OpenAPIResponse",
    "OpenAPIService",
    "api_path",
    "component_name",
    "content_hash",
    "crd_schemas",
    "openapi_document",
    "openapi_index",
    "serialize",
]
