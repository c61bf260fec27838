"""Open311 GeoReport v2 over HTTP, in JSON and XML; thin like node/web/api.py.

Public (no login; wiki.open311.org/GeoReport_v2):

* `GET  /open311/discovery.{json,xml}` — the endpoint, its formats and contact;
* `GET  /open311/v2/services.{fmt}` — the service catalogue;
* `GET  /open311/v2/services/{code}.{fmt}` — a service definition (its attributes);
* `POST /open311/v2/requests.{fmt}` — a new request: `api_key` (a registered client
  system's; 403 otherwise), `service_code`, `description`, `phone`, attribute[...] as a form
  (application/x-www-form-urlencoded, the spec's) or one JSON object with the same names
  (`attribute` may be an object). 201 with [{service_request_id, service_notice,
  account_id}]; with the same `Idempotency-Key` header again: 200 and the same request;
* `GET  /open311/v2/requests.{fmt}` — `service_request_id` (comma list, overrides the rest),
  `service_code`, `start_date`/`end_date` (ISO 8601, at most 90 days apart; default the
  last 90 days), `status` (open, closed or both, comma list), `page`/`page_size` (an
  extension: at most 500 a page, default 100);
* `GET  /open311/v2/requests/{id}.{fmt}` — one request;
* `GET  /open311/v2/servicerequestupdates.{fmt}` — the widely used extension (mySociety's
  FixMyStreet): the status changes between `start_date` and `end_date` (same 90-day rule).

Errors are the spec's: the HTTP status (400, 403, 404; 413 over the body limit) and a list
[{code, description}] (XML `<errors><error><code/><description/></error></errors>`),
description in Chinese, in English with `Accept-Language: en`. Nothing is written unless
the request is taken in.

Administration (admin only, the JSON API's usual errors): `GET|POST
/api/v1/admin/open311/clients`, `POST /api/v1/admin/open311/clients/{id}/revoke` — the key is
in the creation's answer only. Screen: /ui/workbench/open311.

Use cases: node/app/open311.py. XML is built with the standard library's ElementTree (text
is escaped by it; nothing is parsed here, so no entity expansion can be triggered).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from node.app.open311 import (
    NewRequest,
    Open311Service,
    PublicRequest,
    PublicUpdate,
    RequestsFilter,
)
from node.app.ports import Open311Client
from node.domain.calendar import CST
from node.domain.errors import DomainError, Forbidden, NotFound, Unauthenticated, ValidationError
from node.domain.issue import Channel
from node.domain.open311 import ATTRIBUTES, Service, Status
from node.i18n import error_message
from node.web import guards
from node.web.api import _ERRORS, API, PrincipalDep, Services, ServicesDep
from node.web.problems import BodyTooLarge

ROOT = "/open311"
V2 = f"{ROOT}/v2"
SPEC = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-12-02T00:00:00+08:00"
FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
#: the element of each item of a list-valued field in XML
_ITEM = {"attributes": "attribute", "values": "value", "endpoints": "endpoint",
         "formats": "format"}

router = APIRouter(include_in_schema=False)

Record = Mapping[str, Any]


# --------------------------------------------------------------------------- rendering


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(CST).isoformat(timespec="seconds")
    if isinstance(value, Status):
        return value.value
    if isinstance(value, list):
        return [_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _value(v) for k, v in value.items()}
    return value


# What XML 1.0 cannot carry at all (ElementTree would write it and no parser would read it
# back): text that reaches the renderer has been checked, this is the last line of defence.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(value: Any) -> str:
    return _NOT_XML.sub("\ufffd", str(value))


def _xml_fill(parent: ET.Element, record: Record) -> None:
    for key, raw in record.items():
        child = ET.SubElement(parent, key)
        value = _value(raw)
        if isinstance(value, list):
            for item in value:
                sub = ET.SubElement(child, _ITEM.get(key, "item"))
                if isinstance(item, dict):
                    _xml_fill(sub, item)
                else:
                    sub.text = _xml_text(item)
        elif isinstance(value, dict):
            _xml_fill(child, value)
        elif isinstance(value, bool):
            child.text = "true" if value else "false"
        elif value is not None:
            child.text = _xml_text(value)


def render(fmt: str, data: Record | Sequence[Record], *, root: str, item: str | None = None,
           status: int = 200) -> Response:
    """JSON as the spec shows it (a list, or one object), or the XML document `<root>` of
    `<item>` elements (or `<root>` holding one record's fields)."""
    if fmt == "xml":
        element = ET.Element(root)
        if isinstance(data, Mapping):
            _xml_fill(element, data)
        else:
            assert item is not None
            for record in data:
                _xml_fill(ET.SubElement(element, item), record)
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                + ET.tostring(element, encoding="unicode")).encode()
    else:
        shaped = _value(dict(data) if isinstance(data, Mapping) else [dict(r) for r in data])
        body = json.dumps(shaped, ensure_ascii=False).encode()
    return Response(body, status_code=status, media_type=FORMATS[fmt])


def _lang(request: Request) -> str:
    return "en" if request.headers.get("accept-language", "").lower().startswith("en") \
        else "zh-CN"


def _status_of(exc: DomainError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Forbidden | Unauthenticated):
        return 403
    return 400


def error_response(request: Request, fmt: str, exc: DomainError) -> Response:
    status = _status_of(exc)
    return render(fmt, [{"code": status, "description": error_message(exc, _lang(request))}],
                  root="errors", item="error", status=status)


def _too_large(request: Request, fmt: str, limit: int) -> Response:
    text = ("the request body is larger than " if _lang(request) == "en"
            else "请求体超过上限 ") + f"{limit} bytes"
    response = render(fmt, [{"code": 413, "description": text}], root="errors", item="error",
                      status=413)
    response.headers["Connection"] = "close"
    return response


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise NotFound("not_found")
    return fmt


def _open311(request: Request) -> Open311Service:
    services: Services = request.app.state.services
    if services.open311 is None:
        raise NotFound("not_found")
    return services.open311


def _checked_query(request: Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        guards.check_param(name[:40], value)
        out[name] = value
    return out


def _when(name: str, value: str | None) -> datetime | None:
    if value is None or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError("open311_parameter_invalid", field=name, value=value[:40]) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=CST)


def _int(name: str, value: str | None, default: int) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or len(value) > 6:
        raise ValidationError("open311_parameter_invalid", field=name, value=value[:40])
    return int(value)


def _statuses(value: str | None) -> tuple[Status, ...]:
    if not value:
        return ()
    try:
        return tuple(Status(v.strip().lower()) for v in value.split(",") if v.strip())
    except ValueError:
        raise ValidationError("open311_parameter_invalid", field="status",
                              value=value[:40]) from None


# --------------------------------------------------------------------------- records


def _service_record(s: Service) -> dict[str, Any]:
    return {"service_code": s.code, "service_name": s.zh, "description": s.description_zh,
            "metadata": True, "type": "realtime", "keywords": ",".join(s.keywords),
            "group": s.group}


def _definition(open311: Open311Service, s: Service) -> dict[str, Any]:
    return {"service_code": s.code, "attributes": [
        {"variable": True, "code": a.code, "datatype": a.datatype.value,
         "required": a.required, "datatype_description": a.en, "order": a.order,
         "description": a.zh,
         "values": [{"key": key, "name": zh} for key, zh, _ in a.values]}
        for a in ATTRIBUTES]}


def _request_record(r: PublicRequest) -> dict[str, Any]:
    return {"service_request_id": r.service_request_id, "status": r.status,
            "status_notes": r.status_notes, "service_name": r.service_name,
            "service_code": r.service_code, "description": r.description,
            "agency_responsible": r.agency_responsible, "service_notice": None,
            "requested_datetime": r.requested_datetime,
            "updated_datetime": r.updated_datetime,
            "expected_datetime": r.expected_datetime, "address": None, "address_id": None,
            "zipcode": None, "lat": None, "long": None, "media_url": None}


def _update_record(u: PublicUpdate) -> dict[str, Any]:
    return {"update_id": u.update_id, "service_request_id": u.service_request_id,
            "status": u.status, "updated_datetime": u.updated_datetime,
            "description": u.description, "media_url": None}


# --------------------------------------------------------------------------- public routes


@router.get(ROOT + "/discovery.{fmt}")
def discovery(fmt: str, request: Request) -> Response:
    shown = fmt if fmt in FORMATS else "json"
    try:
        open311 = _open311(request)
        _format(fmt)
    except DomainError as exc:
        return error_response(request, shown, exc)
    base = str(request.base_url).rstrip("/") + V2
    return render(fmt, {
        "changeset": CHANGESET, "contact": open311.contact or open311.node_name,
        "key_service": "api_key: " + ("向本节点管理员申请" if _lang(request) != "en"
                                      else "ask this node's administrator"),
        "endpoints": [{"specification": SPEC, "url": base, "changeset": CHANGESET,
                       "type": "production", "formats": ["text/xml", "application/json"]}],
    }, root="discovery")


@router.get(V2 + "/services.{fmt}")
def services(fmt: str, request: Request) -> Response:
    shown = fmt if fmt in FORMATS else "json"
    try:
        open311 = _open311(request)
        _format(fmt)
        query = _checked_query(request)
        open311.check_jurisdiction(query.get("jurisdiction_id"))
        catalogue = open311.services()
    except DomainError as exc:
        return error_response(request, shown, exc)
    return render(fmt, [_service_record(s) for s in catalogue], root="services",
                  item="service")


@router.get(V2 + "/services/{code}.{fmt}")
def service_definition(code: str, fmt: str, request: Request) -> Response:
    shown = fmt if fmt in FORMATS else "json"
    try:
        open311 = _open311(request)
        _format(fmt)
        query = _checked_query(request)
        open311.check_jurisdiction(query.get("jurisdiction_id"))
        found = open311.service(code)
    except DomainError as exc:
        return error_response(request, shown, exc)
    return render(fmt, _definition(open311, found), root="service_definition")


async def _form(request: Request) -> tuple[dict[str, str], dict[str, str]]:
    """(fields, attributes) of a POST body: a form or one JSON object."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fields: dict[str, str] = {}
    attributes: dict[str, str] = {}

    def put(key: str, value: Any) -> None:
        if key.startswith("attribute[") and key.endswith("]"):
            attributes[key[len("attribute["):-1]] = _scalar(key, value)
        elif key == "attribute" and isinstance(value, dict):
            for k, v in value.items():
                attributes[str(k)] = _scalar(f"attribute[{k}]", v)
        else:
            fields[key] = _scalar(key, value)

    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await request.form()
        except BodyTooLarge:
            raise
        except (StarletteHTTPException, ValueError, UnicodeDecodeError, AssertionError):
            raise ValidationError("open311_body_invalid", field="body") from None
        for key, value in form.multi_items():
            if not isinstance(value, str):
                raise ValidationError("open311_body_invalid", field=key[:40])
            put(key, value)
    elif kind == "application/json":
        try:
            data = json.loads(await request.body())
        except BodyTooLarge:
            raise
        except (ValueError, UnicodeDecodeError):
            raise ValidationError("open311_body_invalid", field="body") from None
        if not isinstance(data, dict):
            raise ValidationError("open311_body_invalid", field="body")
        for key, value in data.items():
            put(str(key), value)
    else:
        raise ValidationError("open311_body_invalid", field="body")
    return fields, attributes


def _scalar(key: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValidationError("open311_parameter_invalid", field=key[:40],
                              value=type(value).__name__)
    return str(value)


@router.post(V2 + "/requests.{fmt}")
async def post_request(fmt: str, request: Request) -> Response:
    shown = fmt if fmt in FORMATS else "json"
    try:
        open311 = _open311(request)
        _format(fmt)
        query = _checked_query(request)
        fields, attributes = await _form(request)
        new = NewRequest(service_code=fields.get("service_code"),
                         description=fields.get("description"), attributes=attributes,
                         phone=fields.get("phone"),
                         address_string=fields.get("address_string"),
                         media_url=fields.get("media_url"),
                         jurisdiction_id=fields.get("jurisdiction_id"))
        key = fields.get("api_key") or query.get("api_key")
        idempotency = request.headers.get("idempotency-key")
        issue, created = await run_in_threadpool(open311.submit, key, new,
                                                 idempotency_key=idempotency)
    except BodyTooLarge as exc:
        return _too_large(request, shown, exc.limit)
    except DomainError as exc:
        return error_response(request, shown, exc)
    notice = ("已受理，编号 " if _lang(request) != "en" else "received as ") + issue.number
    return render(fmt, [{"service_request_id": issue.number, "service_notice": notice,
                         "account_id": None}],
                  root="service_requests", item="request", status=201 if created else 200)


@router.get(V2 + "/requests.{fmt}")
def get_requests(fmt: str, request: Request) -> Response:
    shown = fmt if fmt in FORMATS else "json"
    try:
        open311 = _open311(request)
        _format(fmt)
        q = _checked_query(request)
        ids = tuple(dict.fromkeys(i.strip() for i in q.get("service_request_id", "").split(",")
                                  if i.strip()))
        found = open311.requests(RequestsFilter(
            ids=ids, service_code=q.get("service_code") or None,
            start=_when("start_date", q.get("start_date")),
            end=_when("end_date", q.get("end_date")), statuses=_statuses(q.get("status")),
            page=_int("page", q.get("page"), 1),
            page_size=_int("page_size", q.get("page_size"), 100),
            jurisdiction_id=q.get("jurisdiction_id")))
    except DomainError as exc:
        return error_response(request, shown, exc)
    return render(fmt, [_request_record(r) for r in found], root="service_requests",
                  item="request")


@router.get(V2 + "/requests/{request_id}.{fmt}")
def get_request(request_id: str, fmt: str, request: Request) -> Response:
    shown = fmt if fmt in FORMATS else "json"
    try:
        open311 = _open311(request)
        _format(fmt)
        q = _checked_query(request)
        found = open311.request(request_id, jurisdiction_id=q.get("jurisdiction_id"))
    except DomainError as exc:
        return error_response(request, shown, exc)
    return render(fmt, [_request_record(found)], root="service_requests", item="request")


@router.get(V2 + "/servicerequestupdates.{fmt}")
def get_updates(fmt: str, request: Request) -> Response:
    shown = fmt if fmt in FORMATS else "json"
    try:
        open311 = _open311(request)
        _format(fmt)
        q = _checked_query(request)
        found = open311.updates(_when("start_date", q.get("start_date")),
                                _when("end_date", q.get("end_date")),
                                jurisdiction_id=q.get("jurisdiction_id"))
    except DomainError as exc:
        return error_response(request, shown, exc)
    return render(fmt, [_update_record(u) for u in found], root="service_requests_updates",
                  item="request_update")


# --------------------------------------------------------------------------- administration

admin = APIRouter(prefix=f"{API}/admin/open311", responses=_ERRORS, tags=["administration"])


class ClientOut(BaseModel):
    id: str
    name: str
    channel: Channel
    key_hint: str
    active: bool
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None

    @classmethod
    def of(cls, c: Open311Client) -> ClientOut:
        return cls(id=c.id, name=c.name, channel=Channel(c.channel), key_hint=c.key_hint,
                   active=c.revoked_at is None, created_at=c.created_at,
                   created_by=c.created_by, revoked_at=c.revoked_at, revoked_by=c.revoked_by)


class ClientCreatedOut(ClientOut):
    api_key: str = Field(description="shown this once; the node keeps only its hash")


class ClientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    channel: str = Field(min_length=1, max_length=20)


def _service(services: Services) -> Open311Service:
    if services.open311 is None:
        raise NotFound("not_found")
    return services.open311


@admin.get("/clients", response_model=list[ClientOut])
def list_clients(principal: PrincipalDep, services: ServicesDep) -> list[ClientOut]:
    """Every registered client system, newest first (keys are never shown again)."""
    return [ClientOut.of(c) for c in _service(services).clients(principal)]


@admin.post("/clients", response_model=ClientCreatedOut, status_code=201)
def create_client(body: ClientIn, principal: PrincipalDep,
                  services: ServicesDep) -> ClientCreatedOut:
    """Register a client system bound to one of the node's intake channels."""
    client, key = _service(services).create_client(principal, name=body.name,
                                                   channel=body.channel)
    return ClientCreatedOut(**ClientOut.of(client).model_dump(), api_key=key)


@admin.post("/clients/{client_id}/revoke", response_model=ClientOut)
def revoke_client(client_id: Annotated[str, Path(max_length=20)], principal: PrincipalDep,
                  services: ServicesDep) -> ClientOut:
    """Revoke the client's key at once."""
    return ClientOut.of(_service(services).revoke(principal, client_id))


def routers() -> Iterable[APIRouter]:
    return (router, admin)
