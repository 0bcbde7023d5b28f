"""The API server service: TLS, authentication, authorization, routing to the REST verbs."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from kubeprov import __version__
from kubeprov.api import status
from kubeprov.api.status import StatusError
from kubeprov.apiserver import discovery, metrics_api
from kubeprov.apiserver.admission import Admission, admission_settings
from kubeprov.apiserver.apply import FieldManager, SchemaStore
from kubeprov.apiserver.audit import AuditLog
from kubeprov.apiserver.auth import TokenIssuer, default_policy
from kubeprov.apiserver.bootstrap import bootstrap
from kubeprov.apiserver.config import ApiServerConfig
from kubeprov.apiserver.crd import CrdController
from kubeprov.apiserver.kubelets import connect_handlers
from kubeprov.apiserver.metrics import Metrics
from kubeprov.apiserver.openapi import BuiltinSchemas, OpenAPIService
from kubeprov.apiserver.openapi.v2 import OpenAPIV2Service
from kubeprov.apiserver.protobuf import PROTOBUF_CONTENT_TYPE, ProtobufCodec, ProtobufError
from kubeprov.apiserver.request_info import RequestInfo, parse_request
from kubeprov.apiserver.resources import Registry, ResourceType, builtin_resources
from kubeprov.apiserver.rest import negotiate
from kubeprov.apiserver.rest.call import Call
from kubeprov.apiserver.rest.fieldvalidation import FieldValidation
from kubeprov.apiserver.rest.hooks import ServiceHooks
from kubeprov.apiserver.rest.objects import Objects
from kubeprov.apiserver.rest.subresources import Subresources
from kubeprov.apiserver.rest.typecheck import TypeChecker
from kubeprov.apiserver.rest.versions import to_served
from kubeprov.apiserver.rest.watch import WatchStream
from kubeprov.apiserver.security import Security
from kubeprov.apiserver.storage.allocator import ServiceAllocator
from kubeprov.apiserver.storage.codec import Codec
from kubeprov.apiserver.storage.compactor import Compactor
from kubeprov.apiserver.storage.encryption import load_encryption_config
from kubeprov.apiserver.storage.store import Store
from kubeprov.apiserver.storage.watchcache import WatchCache
from kubeprov.component import serve_until_signalled
from kubeprov.etcd import EtcdClient, EtcdError, EtcdTLS

log = logging.getLogger("kubeprov.apiserver")
KUBE_MINOR = "32"
AUDIT_START = web.RequestKey("audit_start", tuple)
AUDIT_USER = web.RequestKey("audit_user", object)


def version_info() -> dict[str, str]:
    return {
        "major": "1",
        "minor": KUBE_MINOR,
        "gitVersion": f"v1.{KUBE_MINOR}.0+kubeprov.{__version__}",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "python3",
        "compiler": "cpython",
        "platform": "linux/amd64",
    }


def _status_response(body: dict[str, Any]) -> web.Response:
    response = web.json_response(body, status=int(body.get("code", 500)), dumps=_dumps)
    retry_after = int((body.get("details") or {}).get("retryAfterSeconds") or 0)
    if retry_after > 0:  # as kube-apiserver: clients wait this long before trying again
        response.headers["Retry-After"] = str(retry_after)
    return response


def _json_raw(raw: bytes, call: Call) -> bytes | None:
    """The raw body when it is JSON, so duplicate fields can be reported."""
    return raw if negotiate.media_type(call.content_type) in ("", negotiate.JSON) else None


def _warning_headers(call: Call) -> dict[str, str] | None:
    if not call.warnings:
        return None
    # RFC 7234 warn-code 299 with the agent "-", as kube-apiserver sends them
    text = ", ".join('299 - "' + w.replace("\\", "\\\\").replace('"', '\\"') + '"' for w in call.warnings)
    return {"Warning": text}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class ApiServer:
    """One API server process: start() serves until stop(); several may share one etcd."""

    def __init__(self, config: ApiServerConfig) -> None:
        self.config = config
        self.registry = Registry(builtin_resources())
        for metrics_type in metrics_api.resource_types():  # served from scraped usage, never stored
            self.registry.add(metrics_type)
        self.metrics_scraper: metrics_api.Scraper | None = None
        self.metrics = Metrics()
        self.etcd: EtcdClient | None = None
        self.store: Store | None = None
        self.cache: WatchCache | None = None
        self.objects: Objects | None = None
        self.watches: WatchStream | None = None
        self.security: Security
        self.audit: AuditLog | None = None
        self.compactor: Compactor | None = None
        self.openapi = OpenAPIService(self.registry)
        self.openapi_v2 = OpenAPIV2Service(self.registry, self.openapi.schemas)
        self.schemas = SchemaStore()
        self.protobuf = ProtobufCodec.load()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port = config.port

    # ---- lifecycle -------------------------------------------------------------------------

    def _etcd_client(self) -> EtcdClient:
        cfg = self.config
        tls = None
        if cfg.etcd_ca_file:
            tls = EtcdTLS(Path(cfg.etcd_ca_file), Path(cfg.etcd_cert_file) if cfg.etcd_cert_file else None,
                          Path(cfg.etcd_key_file) if cfg.etcd_key_file else None)
        return EtcdClient(cfg.etcd_endpoints, tls)

    def _ssl_context(self) -> ssl.SSLContext | None:
        cfg = self.config
        if not cfg.tls_cert_file:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cfg.tls_cert_file, cfg.tls_key_file)
        if cfg.client_ca_file:
            ctx.load_verify_locations(cfg.client_ca_file)
            ctx.verify_mode = ssl.CERT_OPTIONAL  # tokens and anonymous requests carry no certificate
        return ctx

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        self.audit = AuditLog(Path(self.config.audit_log_path) if self.config.audit_log_path else None)
        self.etcd = self._etcd_client()
        codec = Codec(self._transformer())
        self.store = Store(self.etcd, codec)
        self.cache = WatchCache(self.etcd, codec, capacity=self.config.watch_cache_size)
        await self.cache.start()
        allocator = ServiceAllocator(self.etcd, self.config.service_cidr, self.config.node_port_range)
        self.objects = Objects(self.store, self.cache, field_manager=self._field_manager(),
                               hooks={("", "services"): ServiceHooks(allocator)},
                               validation=FieldValidation(self.schemas, TypeChecker(BuiltinSchemas())),
                               admission=Admission(self.config.admission_plugins, cache=self.cache, store=self.store,
                                                   registry=self.registry, settings=admission_settings(self.config)))
        self.watches = WatchStream(self.cache, self.render)
        self._setup_security()
        self.crds = CrdController(registry=self.registry, cache=self.cache, store=self.store, schemas=self.schemas)
        await self.crds.start()
        self.compactor = Compactor(self.etcd, self.config.compaction_interval_seconds)
        self.compactor.start()
        self.subresources = Subresources(self.objects, self._token_issuer())
        self.connect = connect_handlers(self.config, self.store, self.cache, self.registry)
        self.metrics_api, self.metrics_scraper = metrics_api.metrics_service(self.config, self.cache, self.registry)
        self.metrics_scraper.start()
        await self._bootstrap()
        app = web.Application(client_max_size=negotiate.MAX_BODY + 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.config.bind_address, self.config.port,
                                 ssl_context=self._ssl_context(), backlog=1024)
        await self._site.start()
        if self.config.port == 0:
            server = self._site._server
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1]
        log.info("serving on %s:%s", self.config.bind_address, self.port)

    async def stop(self) -> None:
        if self.metrics_scraper is not None:
            await self.metrics_scraper.stop()
        if getattr(self, "connect", None) is not None:
            await self.connect.close()
        crds = getattr(self, "crds", None)
        if crds is not None:
            await crds.stop()
        if self.compactor is not None:
            await self.compactor.stop()
        if self.audit is not None:
            self.audit.close()
        if self.cache is not None:
            await self.cache.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.etcd is not None:
            await self.etcd.close()
            self.etcd = None

    @property
    def url(self) -> str:
        scheme = "https" if self.config.tls_cert_file else "http"
        return f"{scheme}://{self.config.bind_address}:{self.port}"

    # ---- optional parts (wired as they exist) ----------------------------------------------

    def _transformer(self) -> Any:
        if not self.config.encryption_provider_config:
            return None
        transformer = load_encryption_config(Path(self.config.encryption_provider_config))
        for line in transformer.describe():
            log.info("encryption at rest: %s", line)
        return transformer

    def _field_manager(self) -> FieldManager:
        return FieldManager(self.schemas)

    def _setup_security(self) -> None:
        assert self.cache is not None and self.store is not None
        self.security = Security(self.config, self.cache, self.store, self.registry)

    async def _bootstrap(self) -> None:
        assert self.objects is not None
        await bootstrap(self.objects, self.registry, service_cidr=self.config.service_cidr,
                        advertise_address=self.config.advertise_address, port=self.port_for_endpoints,
                        policy=self._default_policy())

    def _token_issuer(self) -> TokenIssuer | None:
        if not self.config.service_account_signing_key_file:
            return None
        return TokenIssuer(signing_key_file=Path(self.config.service_account_signing_key_file),
                           issuer=self.config.service_account_issuer)

    def _default_policy(self) -> list[dict[str, Any]]:
        return default_policy()

    @property
    def port_for_endpoints(self) -> int:
        return self.config.port or 6443

    # ---- rendering -------------------------------------------------------------------------

    @staticmethod
    def served(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """A stored object in the version the client addressed."""
        return to_served(rt, obj)

    def render(self, call: Call, obj: dict[str, Any]) -> dict[str, Any]:
        """A stored object as the client asked: its version; a Table row for kubectl."""
        obj = self.served(call.rt, obj)
        if call.accept.as_kind == "Table":
            return self.table(call, [obj])
        return obj

    def table(self, call: Call, items: list[dict[str, Any]], list_meta: dict[str, Any] | None = None) -> dict:
        from kubeprov.apiserver.tables import to_table

        return to_table(call.rt, items, include_object=call.query.get("includeObject", "Metadata"),
                        resource_version=(list_meta or {}).get("resourceVersion", ""),
                        continue_token=(list_meta or {}).get("continue", ""))

    # ---- HTTP ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        info = parse_request(request.method, request.path, request.query)
        code = 500
        stage = "ResponseComplete"
        audit = self.audit is not None and self.audit.enabled
        if audit:
            request[AUDIT_START] = (datetime.now(UTC), request.headers.get("Audit-ID") or str(uuid.uuid4()))
            self._audit(request, info, "RequestReceived", None)
        try:
            response = await self._serve(request, info)
            code = response.status
            return response
        except StatusError as err:
            code = err.code
            return _status_response(err.status)
        except web.HTTPException:
            raise
        except EtcdError as err:
            log.warning("etcd error on %s %s: %s", request.method, request.path, err)
            code = 503
            return _status_response(status.service_unavailable(f"etcd: {err}"))
        except Exception as err:  # a bug must not take the server down or leak a traceback
            log.exception("internal error on %s %s", request.method, request.path)
            stage = "Panic"
            return _status_response(status.internal_error(f"{type(err).__name__}: {err}"))
        finally:
            verb = "WATCH" if info.verb == "watch" else request.method
            self.metrics.observe(verb, info.group, info.resource or "", code, time.monotonic() - started)
            if audit:
                self._audit(request, info, stage, code)

    def _audit(self, request: web.Request, info: RequestInfo, stage: str, code: int | None) -> None:
        assert self.audit is not None
        received, audit_id = request[AUDIT_START]
        user = request.get(AUDIT_USER)
        forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",") if a.strip()]
        object_ref = None
        if info.resource_request:
            object_ref = {"resource": info.resource, "namespace": info.namespace, "name": info.name,
                          "apiGroup": info.group, "apiVersion": info.version, "subresource": info.subresource}
        self.audit.event(stage=stage, request_id=audit_id, verb=info.verb, request_uri=str(request.rel_url),
                         user=user.to_api() if user is not None else {},
                         source_ips=[*forwarded, request.remote or ""],
                         user_agent=request.headers.get("User-Agent", ""),
                         object_ref=object_ref, response_code=code, request_received=received,
                         stage_time=datetime.now(UTC))

    async def _serve(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        user = await self._authenticate(request)
        request[AUDIT_USER] = user
        self.security.authorize(user, info, request.query)
        if not info.resource_request:
            return await self._non_resource(request, info)
        rt = self.registry.get(info.group, info.version, info.resource)
        if rt is None:
            raise StatusError(status.failure(404, "NotFound", "the server could not find the requested resource",
                                             {}))
        accept = negotiate.negotiate(request.headers.get("Accept"))
        call = Call(info=info, rt=rt, query=request.query, accept=accept, user=user,
                    user_agent=request.headers.get("User-Agent", ""),
                    content_type=request.headers.get("Content-Type", ""))
        if rt.group == metrics_api.GROUP:
            return await self.metrics_api.serve(request, call)
        if info.subresource:
            return await self._subresource(request, call)
        return await self._resource(request, call)

    async def _decode(self, request: web.Request, content_type: str, expected_kind: str = "") -> Any:
        return self._decode_bytes(await self._body(request), content_type, expected_kind)

    def _decode_bytes(self, raw: bytes, content_type: str, expected_kind: str = "") -> Any:
        """A request body: JSON, YAML, or the Kubernetes protobuf kubectl's typed clients send."""
        if negotiate.media_type(content_type) == PROTOBUF_CONTENT_TYPE:
            if self.protobuf is None:
                raise StatusError(status.unsupported_media_type(negotiate.BODY_TYPES[:2]))
            try:
                return self.protobuf.decode(raw)
            except ProtobufError as err:
                raise StatusError(status.bad_request(f"protobuf: {err}")) from None
        if len(raw) > negotiate.MAX_BODY:
            raise StatusError(status.request_entity_too_large(f"limit is {negotiate.MAX_BODY}"))
        kind = negotiate.media_type(content_type) or negotiate.JSON
        if kind not in (negotiate.JSON, negotiate.YAML):
            raise StatusError(status.unsupported_media_type(negotiate.BODY_TYPES))
        try:
            return negotiate.parse(raw, kind)
        except negotiate.BodyError as err:
            if kind == negotiate.JSON and expected_kind:
                raise StatusError(status.bad_request(
                    f"the object provided is unrecognized (must be of type {expected_kind}): "
                    f"couldn't get version/kind; json parse error: {err}")) from None
            raise StatusError(status.bad_request(str(err))) from None

    async def _body(self, request: web.Request) -> bytes:
        if request.content_length is not None and request.content_length > negotiate.MAX_BODY:
            raise StatusError(status.request_entity_too_large(f"limit is {negotiate.MAX_BODY}"))
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise StatusError(status.request_entity_too_large(f"limit is {negotiate.MAX_BODY}")) from None

    def _respond(self, call: Call, obj: dict[str, Any], code: int = 200) -> web.Response:
        if obj.get("kind") != "Status":
            if call.accept.as_kind == "PartialObjectMetadata":
                obj = negotiate.partial_metadata(obj)
            else:
                obj = self.render(call, obj)
        body, content_type = negotiate.encode(obj, call.accept)
        return web.Response(body=body, status=code, content_type=content_type, headers=_warning_headers(call))

    def _respond_raw(self, call: Call, obj: dict[str, Any], code: int = 200) -> web.Response:
        """A subresource's own object (Scale, TokenRequest, Status): no version or Table rendering."""
        body, content_type = negotiate.encode(obj, call.accept)
        return web.Response(body=body, status=code, content_type=content_type)

    def _check_verb(self, rt: ResourceType, verb: str, info: RequestInfo) -> None:
        allowed = rt.verbs
        if verb not in allowed:
            action = {"get": "get", "list": "list", "watch": "watch", "create": "create", "update": "update",
                      "patch": "patch", "delete": "delete", "deletecollection": "delete"}.get(verb, verb)
            raise StatusError(status.method_not_supported(rt.group_resource, action))

    async def _resource(self, request: web.Request, call: Call) -> web.StreamResponse:
        assert self.objects is not None and self.watches is not None
        info, rt = call.info, call.rt
        self._check_verb(rt, info.verb, info)
        if not rt.stored:
            return await self._review(request, call)
        if info.verb == "get":
            return self._respond(call, await self.objects.get(call))
        if info.verb == "list":
            items, meta = await self.objects.list(call)
            return self._list_response(call, items, meta)
        if info.verb == "watch":
            self.metrics.watchers += 1
            try:
                return await self.watches.serve(request, call)
            finally:
                self.metrics.watchers -= 1
        if info.verb == "create":
            if rt.namespaced and not info.namespace:
                raise StatusError(status.failure(404, "NotFound", "the server could not find the requested resource",
                                                 {}))
            raw = await self._body(request)
            body = self._decode_bytes(raw, call.content_type, rt.kind)
            return self._respond(call, await self.objects.create(call, body, raw=_json_raw(raw, call)), 201)
        if info.verb == "update":
            raw = await self._body(request)
            body = self._decode_bytes(raw, call.content_type, rt.kind)
            return self._respond(call, await self.objects.update(call, body, raw=_json_raw(raw, call)))
        if info.verb == "patch":
            raw = await self._body(request)
            return self._respond(call, await self.objects.patch(call, raw, call.content_type))
        if info.verb == "delete":
            raw = await self._body(request)
            options = self._decode_bytes(raw, call.content_type) if raw.strip() else {}
            obj, code = await self.objects.delete(call, options)
            return self._respond(call, obj, code)
        if info.verb == "deletecollection":
            raw = await self._body(request)
            options = self._decode_bytes(raw, call.content_type) if raw.strip() else {}
            return self._respond(call, await self.objects.delete_collection(call, options))
        raise StatusError(status.method_not_supported(rt.group_resource, info.verb))

    def _list_response(self, call: Call, items: list[dict[str, Any]], meta: dict[str, Any]) -> web.Response:
        rt = call.rt
        if call.accept.as_kind == "Table":
            doc = self.table(call, [self.served(rt, i) for i in items], meta)
        elif call.accept.as_kind.startswith("PartialObjectMetadata"):
            doc = negotiate.partial_metadata_list(items, meta)
        else:
            stripped = []
            for item in items:
                copy = dict(item)
                copy.pop("apiVersion", None)
                copy.pop("kind", None)
                stripped.append(copy)
            doc = {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta, "items": stripped}
        body, content_type = negotiate.encode(doc, call.accept)
        return web.Response(body=body, status=200, content_type=content_type)

    async def _subresource(self, request: web.Request, call: Call) -> web.StreamResponse:
        assert self.objects is not None
        info, rt = call.info, call.rt
        sub = rt.subresource(info.subresource)
        if sub is None or not info.name:
            raise StatusError(status.failure(404, "NotFound", "the server could not find the requested resource",
                                             {}))
        if sub.connect:
            if info.verb not in sub.verbs:
                raise StatusError(status.method_not_supported(f"{rt.group_resource}/{sub.name}", info.verb))
            return await self.connect.serve(request, call)
        subs = self.subresources
        if sub.name == "scale":
            if info.verb == "get":
                return self._respond_raw(call, await subs.get_scale(call))
            if info.verb == "update":
                body = await self._decode(request, call.content_type)
                return self._respond_raw(call, await subs.update_scale(call, body))
            if info.verb == "patch":
                return self._respond_raw(call, await subs.patch_scale(call, await self._body(request),
                                                                      call.content_type))
        if info.verb == "create" and sub.name in ("binding", "eviction", "token"):
            body = await self._decode(request, call.content_type)
            if sub.name == "binding":
                return self._respond_raw(call, await subs.bind(call, body), 201)
            if sub.name == "eviction":
                answer, code = await subs.evict(call, body)
                return self._respond_raw(call, answer, code)
            return self._respond_raw(call, await subs.token(call, body), 201)
        if sub.name in ("status", "finalize", "approval", "ephemeralcontainers"):
            if info.verb == "get":
                return self._respond(call, await self.objects.get(call))
            if info.verb == "update":
                body = await self._decode(request, call.content_type)
                return self._respond(call, await self.objects.update(call, body, subresource=sub.name))
            if info.verb == "patch":
                raw = await self._body(request)
                return self._respond(call, await self.objects.patch(call, raw, call.content_type,
                                                                    subresource=sub.name))
        raise StatusError(status.method_not_supported(f"{rt.group_resource}/{sub.name}", info.verb))

    async def _review(self, request: web.Request, call: Call) -> web.Response:
        """Access and token reviews: answered from the request, never stored."""
        body = await self._decode(request, call.content_type)
        if not isinstance(body, dict):
            raise StatusError(status.bad_request(f"the object provided is unrecognized (must be of type "
                                                 f"{call.rt.kind})"))
        body.setdefault("apiVersion", call.rt.api_version)
        body.setdefault("kind", call.rt.kind)
        answer = await self.security.review(call.rt.kind, body, call.user, call.info.namespace)
        return self._respond(call, answer, 201)

    # ---- non-resource paths ----------------------------------------------------------------

    async def _non_resource(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if request.method not in ("GET", "HEAD"):
            raise StatusError(status.method_not_supported(path, request.method))
        if path == "/version":
            return web.json_response(version_info(), dumps=_dumps)
        if path in ("/healthz", "/livez", "/readyz"):
            return await self._health(request, path)
        if path == "/metrics":
            return web.Response(text=self.metrics.render(), content_type="text/plain",
                                charset="utf-8", headers={"X-Content-Type-Options": "nosniff"})
        if path in ("/api", "/apis"):
            wanted = discovery.negotiate_discovery(request.headers.get("Accept", ""))
            if wanted is not None:
                doc, content_type = discovery.aggregated_discovery(self.registry, core=path == "/api",
                                                                   version=wanted)
                return web.Response(text=_dumps(doc), headers={"Content-Type": content_type})
            if path == "/api":
                return web.json_response(discovery.api_versions(f"{self.config.advertise_address}:{self.port}"),
                                         dumps=_dumps)
            return web.json_response(discovery.api_group_list(self.registry), dumps=_dumps)
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            doc = discovery.api_resource_list(self.registry, "", parts[1])
            if doc is not None:
                return web.json_response(doc, dumps=_dumps)
        if parts[0] == "apis" and len(parts) == 2:
            doc = discovery.api_group(self.registry, parts[1])
            if doc is not None:
                return web.json_response(doc, dumps=_dumps)
        if parts[0] == "apis" and len(parts) == 3:
            doc = discovery.api_resource_list(self.registry, parts[1], parts[2])
            if doc is not None:
                return web.json_response(doc, dumps=_dumps)
        if parts[0] == "openapi":
            return await self._openapi(request, parts)
        raise StatusError(status.failure(404, "NotFound", "the server could not find the requested resource", {}))

    async def _openapi(self, request: web.Request, parts: list[str]) -> web.StreamResponse:
        if parts[1:] == ["v2"]:
            answer = await asyncio.to_thread(self.openapi_v2.respond, request.headers.get("Accept", ""),
                                             request.headers.get("If-None-Match", ""))
            return web.Response(body=answer.body, status=answer.status, headers=answer.headers)
        if len(parts) < 2 or parts[1] != "v3":
            raise StatusError(status.failure(404, "NotFound", "the server could not find the requested resource",
                                             {}))
        # building a group-version document reads the schema package once: keep it off the event loop
        answer = await asyncio.to_thread(self.openapi.respond, request.path, request.query.get("hash"),
                                         request.headers.get("Accept", ""), request.headers.get("If-None-Match", ""))
        return web.Response(body=answer.body, status=answer.status, headers=answer.headers)

    async def _health(self, request: web.Request, path: str) -> web.Response:
        checks: list[tuple[str, bool]] = [("ping", True), ("log", True)]
        if path != "/livez":
            etcd_ok = self.etcd is not None and await self.etcd.healthy(timeout=2.0)
            checks.append(("etcd", etcd_ok))
        if path == "/readyz":
            checks.append(("informer-sync", self.cache is not None and self.cache.ready.is_set()))
            checks.append(("watch-cache", self.cache is not None and self.cache.healthy))
        ok = all(passed for _, passed in checks)
        if "verbose" in request.query or not ok:
            lines = [f"[{'+' if passed else '-'}]{name} {'ok' if passed else 'failed'}" for name, passed in checks]
            lines.append(f"{path[1:]} check {'passed' if ok else 'failed'}")
            return web.Response(text="\n".join(lines) + "\n", status=200 if ok else 500)
        return web.Response(text="ok", status=200)

    # ---- security hooks ---------------------------------------------------------------------

    async def _authenticate(self, request: web.Request) -> Any:
        return await self.security.authenticate(request)


async def serve_forever(config: ApiServerConfig) -> None:
    """Run until SIGTERM/SIGINT (the systemd unit and `kubeprov dev up` use this)."""
    await serve_until_signalled(ApiServer(config))
