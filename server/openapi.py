"""`GET /openapi.json`: the HTTP contract, with schemas derived from the msgspec types.

The body schemas are never written by hand: `msgspec.json.schema_components`
derives them from the very `Struct`s the server encodes and decodes (the sync
protocol's messages, the views' rows), so the document cannot drift from the
code. Only the paths (methods, parameters, statuses) are listed here, and a test
checks that every route of the application is described and that a live server
answers as described (schemathesis).

The document is OpenAPI 3.1 (its schemas are JSON Schema 2020-12, what msgspec
emits).
"""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Any, Final

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from core import limits
from core.events import TYPE_BY_NAME, Address, AnyEvent, HowWeMet, Occasion, Profile
from projections.contacts import ContactRow
from projections.views import ColdRow, LedgerRow, Stats, TimelineEntry
from scoring.plan import Nudge, Plan
from sync import protocol
from sync.protocol import (
    DeviceInfo,
    DevicesResponse,
    E2eRequest,
    E2eStatus,
    EnrollRequest,
    EnrollResponse,
    ErrorBody,
    ReplaceRequest,
    ReplaceResponse,
    RevokeRequest,
    RotateRequest,
    SyncRequest,
    SyncResponse,
)

from . import webapp
from .nudge_store import DigestSettings
from .service import SyncService
from .stream import MEDIA_TYPE as EVENT_STREAM
from .stream import Poke
from .today_api import MAX_LIMIT, DigestAnswer, DigestRequest, FeedRevoked, FeedToken


class Health(msgspec.Struct):
    status: str


class UnknownEvent(msgspec.Struct, kw_only=True):
    """An event of a type this server does not know (ADR 0033): stored and forwarded as
    is, if its envelope is within the limits and its fields are plain data (ADR 0080).
    (The server accepts any plain JSON in further fields; this schema shows scalars.)"""

    type: Annotated[str, Meta(min_length=1, max_length=limits.MAX_ID)]
    event_id: limits.Id
    device_id: limits.Id
    seq: limits.Seq
    hlc: limits.Hlc
    occurred_at: limits.Millis
    utc_offset: limits.Offset = 0
    v: limits.Version = 1


def _events(components: dict[str, Any], union: dict[str, Any]) -> None:
    """Describe the events a sync request carries: every known type (with the limits of
    `core.limits`) or an unknown type; rules across fields are stated in words."""
    components["UnknownEvent"]["properties"]["type"]["not"] = {"enum": sorted(TYPE_BY_NAME)}
    nested = (Occasion, Address, Profile, HowWeMet)  # inside events: the same rule
    for name in (*TYPE_BY_NAME, "UnknownEvent", *(n.__name__ for n in nested)):
        # Further fields (a newer schema's) are kept if plain data: scalars shown here.
        components[name]["additionalProperties"] = {"type": ["string", "boolean", "null"]}
    components["IntroductionMade"]["description"] += " The two `contact_ids` differ."
    components["ContactsMerged"]["description"] += " `survivor_id` and `absorbed_id` differ."
    components["Event"] = {"anyOf": [*union["anyOf"], _ref("UnknownEvent")]}
    components["SyncRequest"]["properties"]["events"]["items"] = _ref("Event")
    # What a page carries is what a log holds: any event, of any build.
    components["SyncResponse"]["properties"]["events"]["items"] = {"type": "object"}
    components["ReplaceRequest"]["properties"]["events"]["items"] = _ref("Sealed")
    # bytes travel as standard base64 in JSON
    box = components["Sealed"]["properties"]["box"]
    box["pattern"] = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
    box["minLength"], box["maxLength"] = 40, (limits.MAX_SEALED + 2) // 3 * 4


_TYPES: Final = (
    Health,
    SyncRequest,
    SyncResponse,
    ErrorBody,
    EnrollRequest,
    EnrollResponse,
    DevicesResponse,
    DeviceInfo,
    RevokeRequest,
    E2eRequest,
    E2eStatus,
    ReplaceRequest,
    ReplaceResponse,
    RotateRequest,
    ContactRow,
    LedgerRow,
    ColdRow,
    TimelineEntry,
    Stats,
    Poke,
    Plan,
    Nudge,
    FeedToken,
    FeedRevoked,
    DigestRequest,
    DigestAnswer,
    DigestSettings,
)
_REF: Final = "#/components/schemas/{name}"

_ERRORS: Final = {
    400: "Malformed request: the message names what is wrong.",
    401: "Missing, malformed or unknown token, or a token of the wrong kind.",
    403: "Revoked device, or an event of another device.",
    404: "No such contact or device.",
    409: "Conflict: different content for a held (device, seq), a sequence gap "
    "(`expected_seq`), an event recorded ahead of the server's clock, an ambiguous "
    "reference, or an event or feature at odds with the owner's end-to-end encryption "
    "(`end_to_end_encrypted`: the server cannot read this owner's events).",
    413: "Body over the server's size limit.",
    415: "Unsupported Content-Type (send application/json or application/msgpack).",
    422: "An event that does not validate: the message names the event and the field.",
    503: "Storage busy or unavailable: retry later.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name=name)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _answers(ok: dict[str, Any], ok_text: str, *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": ok_text, "content": ok}}
    for status in errors:
        out[str(status)] = {"description": _ERRORS[status], "content": _json(_ref("ErrorBody"))}
    return out


def _query(name: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": text}


_AS_OF: Final = _query(
    "as_of", {"type": "string", "format": "date"}, "Local date of the view (default: today, UTC)."
)
_ALL_CONTACTS: Final = _query(
    "all", {"type": "boolean"}, "Include archived and merged-away contacts."
)
_ALL_COLD: Final = _query("all", {"type": "boolean"}, "Every contact with a cadence.")
#: A device's reads of its owner's views; 409: the owner is end-to-end encrypted.
_AUTHED: Final = (400, 401, 403, 409, 503)
#: A device's POST of a message.
_POSTED: Final = (400, 401, 403, 409, 413, 415, 503)
_BEARER: Final[list[dict[str, list[str]]]] = [{"device": []}]


def _read(
    summary: str, rows: dict[str, Any], *params: dict[str, Any], errors: tuple[int, ...]
) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "security": _BEARER,
            "parameters": list(params),
            "responses": _answers(_json(rows), summary, *errors),
        }
    }


def _array(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


def _post(
    summary: str, body: str, answer: str, *errors: int, secured: bool = True
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "requestBody": {"required": True, "content": _json(_ref(body))},
        "responses": _answers(_json(_ref(answer)), summary, *errors),
    }
    if secured:
        operation["security"] = _BEARER
    return {"post": operation}


def _nudge_paths() -> dict[str, Any]:
    """The plan, the calendar feed and the digest settings (ADRs 0100-0102)."""
    limit = _query(
        "limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "At most this many items."
    )
    feed_answer = _answers(_json(_ref("FeedToken")), "a new feed token", 401, 403, 409, 503)
    digest_answer = _answers(_json(_ref("DigestAnswer")), "the digest settings", 401, 403, 503)
    token = {
        "name": "token",
        "in": "query",
        "required": True,
        "schema": {"type": "string"},
        "description": "The feed token (from POST /v1/feed): it opens this feed and nothing else.",
    }
    return {
        "/v1/today": _read(
            "The plan for today (recip today --json)",
            _ref("Plan"),
            _AS_OF,
            limit,
            errors=_AUTHED,
        ),
        "/v1/feed": {
            "post": {
                "summary": "A new calendar-feed token (the previous one stops working)",
                "security": _BEARER,
                "responses": feed_answer,
            },
            "delete": {
                "summary": "End the calendar feed",
                "security": _BEARER,
                "responses": _answers(
                    _json(_ref("FeedRevoked")), "whether a feed was ended", 401, 403, 503
                ),
            },
        },
        "/v1/calendar.ics": {
            "get": {
                "summary": "The calendar feed (iCalendar, RFC 5545): the weekly plan, "
                "follow-ups and occasions as all-day events with stable UIDs",
                "security": [{"feed": []}],
                "parameters": [token, _AS_OF],
                "responses": _answers(
                    {"text/calendar": {"schema": {"type": "string"}}},
                    "the feed",
                    400,
                    401,
                    409,
                    503,
                ),
            }
        },
        "/v1/digest": {
            "get": {
                "summary": "The weekly digest's address and time (null: none)",
                "security": _BEARER,
                "responses": digest_answer,
            },
            "put": {
                "summary": "Send the weekly digest to this address, on this weekday and hour",
                "security": _BEARER,
                "requestBody": {"required": True, "content": _json(_ref("DigestRequest"))},
                "responses": _answers(
                    _json(_ref("DigestAnswer")), "the digest settings", 400, 401, 403, 409, 413, 503
                ),
            },
            "delete": {
                "summary": "Stop the weekly digest",
                "security": _BEARER,
                "responses": digest_answer,
            },
        },
    }


#: Addresses the digest's check (`server.mail.check_address`) accepts; it accepts
#: more (quoted local parts, ...), which the document need not list.
_EMAIL: Final = r"^[A-Za-z0-9_%+-]+(\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"


def _digest(request: dict[str, Any]) -> None:
    """What the digest settings' checks accept, as JSON Schema (ADR 0080: the document
    allows nothing the server refuses): an address of the plain form, a known zone."""
    request["properties"]["email"]["pattern"] = _EMAIL
    request["properties"]["timezone"]["enum"] = sorted(zoneinfo.available_timezones())


def document() -> dict[str, Any]:
    """The OpenAPI document of the whole server."""
    schemas, components = msgspec.json.schema_components(
        (*_TYPES, UnknownEvent, AnyEvent), ref_template=_REF
    )
    _events(components, schemas[-1])
    _digest(components["DigestRequest"])
    sync = _post(
        "Push unacknowledged events, pull one page after the cursor (also MessagePack: "
        f"Content-Type/Accept {protocol.MSGPACK})",
        "SyncRequest",
        "SyncResponse",
        400,
        401,
        403,
        409,
        413,
        415,
        422,
        503,
    )
    stream = {
        "get": {
            "summary": "Server-Sent Events: a `poke` event (data: Poke) whenever the owner's "
            "log grows, heartbeats as comments; resume with Last-Event-ID",
            "security": _BEARER,
            "parameters": [
                _query("cursor", {"type": "integer", "minimum": 0}, "Poke at once if behind it."),
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "pattern": "^[0-9]+$"},
                    "description": "The last poke's id: resume after a dropped stream.",
                },
            ],
            "responses": _answers(
                {EVENT_STREAM: {"schema": {"type": "string"}}}, "the event stream", 400, 401, 403
            ),
        }
    }
    contact = {
        "name": "contact",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"},
        "description": "Contact id, unambiguous id prefix, or exact name.",
    }
    enroll = _post(
        "Trade an owner's enrollment token (an invite) for a device token; enrolling an "
        "enrolled device id again needs its current device token as Bearer",
        "EnrollRequest",
        "EnrollResponse",
        400,
        401,
        403,
        409,
        413,
        415,
        503,
        secured=False,
    )
    enroll["post"]["security"] = [{}, *_BEARER]
    paths = {
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (every worker's)",
                "responses": {
                    "200": {
                        "description": "the Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Ready to serve",
                "responses": _answers(_json(_ref("Health")), "ready"),
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": _answers(_json({"type": "object"}), "the OpenAPI document"),
            }
        },
        "/v1/enroll": enroll,
        "/v1/sync": sync,
        "/v1/stream": stream,
        "/v1/devices": _read(
            "The owner's devices", _ref("DevicesResponse"), errors=(401, 403, 503)
        ),
        "/v1/e2e": {
            **_read(
                "Whether the owner is end-to-end encrypted (its key id, or null; ADR 0135)",
                _ref("E2eStatus"),
                errors=(401, 403, 503),
            ),
            **_post(
                "Make the owner end-to-end encrypted under a key id (its first device, "
                "before anything is synced)",
                "E2eRequest",
                "E2eStatus",
                *_POSTED,
            ),
        },
        "/v1/e2e/rotate": _post(
            "Replace the owner's key id (the current one must be named); the devices then "
            "seal the log again under the new key (ADR 0135)",
            "RotateRequest",
            "E2eStatus",
            *_POSTED,
        ),
        "/v1/e2e/replace": _post(
            "Sealed redacted rows in place of the rows held under the same (device, seq): "
            "forgetting for an end-to-end encrypted owner (ADR 0135)",
            "ReplaceRequest",
            "ReplaceResponse",
            *_POSTED,
            422,
        ),
        "/v1/devices/revoke": _post(
            "Revoke one of the owner's devices (id, id prefix or name)",
            "RevokeRequest",
            "DeviceInfo",
            *_POSTED,
            404,
        ),
        "/v1/contacts": _read(
            "Contacts (recip contact list --json)",
            _array("ContactRow"),
            _ALL_CONTACTS,
            errors=_AUTHED,
        ),
        "/v1/contacts/{contact}/timeline": _read(
            "A contact's timeline (recip timeline --json)",
            _array("TimelineEntry"),
            contact,
            errors=(*_AUTHED, 404),
        ),
        "/v1/ledger": _read(
            "Give/ask ledger (recip ledger --json)",
            _array("LedgerRow"),
            _AS_OF,
            _query(
                "contact",
                {"type": "string", "minLength": 1},
                "Only this contact (id, prefix or name).",
            ),
            errors=(*_AUTHED, 404),
        ),
        "/v1/cold": _read(
            "Going cold (recip cold --json)", _array("ColdRow"), _AS_OF, _ALL_COLD, errors=_AUTHED
        ),
        "/v1/stats": _read(
            "Network totals (recip stats --json)", _ref("Stats"), _AS_OF, errors=_AUTHED
        ),
        **_nudge_paths(),
        **webapp.openapi_paths(),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Reciprocity sync server", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "device": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A device token (from /v1/enroll)",
                },
                "feed": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "token",
                    "description": "A calendar-feed token (from POST /v1/feed)",
                },
            },
        },
    }


_DOCUMENT: Final = msgspec.json.encode(document())


async def openapi(request: Request, service: SyncService) -> Response:
    return Response(_DOCUMENT, media_type="application/json")
