"""The API v2 envelope and its query conventions.

Builds `{"Response": ..., "Code": ..., "Message": ...}` around a payload: `Response.Uri` echoes
the request with its query string, the payload sits under the endpoint's `Locator` and is left
out when a list is empty, lists carry `Pages` (single objects never do), and errors carry the
request metadata without a payload. Also applies `start`/`count` paging (clamped to the
endpoint's maximum), `_filter`, `_filteruri`, `_shorturis` and `_verbosity`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote_plus, urlencode

DEFAULT_COUNT = 10
HTTP_MESSAGES = {
    200: "Ok",
    201: "Created",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Bad Accept",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
PARAMETER_DESCRIPTION = {
    "Boolean": "For true return type true or 1, for false type false or 0",
    "Select": 'Select one option. Options should pass only the "Value".',
    "Text": "Variable length text from MIN_CHARS to MAX_CHARS (MAX_CHARS = INFINITY meaning "
    "arbitrary length)",
    "Uri": "Absolute or relative URL, restricted to Locator(s) of the supplied URL if not null.",
    "Varchar": "Variable length text from MIN_CHARS to MAX_CHARS (MAX_CHARS = INFINITY meaning "
    "arbitrary length)",
    "Array": "An indexed array of values with a length in the range MIN_COUNT to MAX_COUNT, "
    "inclusive.",
}


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """What the service says about an endpoint in every reply from it."""

    endpoint_type: str
    locator: str
    locator_type: str
    description: str
    methods: tuple[str, ...] = ("GET",)
    max_count: int = 100
    parameters: dict[str, tuple[dict[str, Any], ...]] = dataclasses.field(default_factory=dict)
    permissions: dict[str, str] = dataclasses.field(default_factory=dict)
    # The page size of a list asked for without `count` (100 for `!images` in the recordings).
    default_count: int = DEFAULT_COUNT

    def at(self, uri: str) -> dict[str, Any]:
        """The endpoint at `uri` as a reply's `Response` and a navigable link both describe it."""
        return {
            "Uri": uri,
            "Locator": self.locator,
            "LocatorType": self.locator_type,
            "UriDescription": self.description,
            "EndpointType": self.endpoint_type,
        }


def param(name: str, type_: str, description: str = "", **extra: Any) -> dict[str, Any]:
    """One entry of an endpoint's `Options.Parameters`."""
    return {
        "Name": name,
        "Required": False,
        "ReadOnly": False,
        "Default": extra.pop("Default", None),
        "Description": description,
        "Type": type_,
        **extra,
    }


@dataclasses.dataclass
class Query:
    """A request as the envelope needs it: path, raw query string and parsed parameters."""

    method: str
    path: str
    raw_query: str
    params: dict[str, str]

    @property
    def uri(self) -> str:
        """The request URI as echoed in `Response.Uri`."""
        return self.path + (f"?{self.raw_query}" if self.raw_query else "")

    def flag(self, name: str) -> bool:
        """Whether a presence parameter such as `_shorturis` or `_pretty` was sent."""
        value = self.params.get(name)
        return value is not None and value.lower() not in ("0", "false")

    def names(self, name: str) -> list[str] | None:
        """A comma-separated parameter as a list (None if absent; [] if empty)."""
        value = self.params.get(name)
        if value is None:
            return None
        return [part.strip() for part in value.split(",") if part.strip()]

    @property
    def verbosity(self) -> int:
        """`_verbosity` (1 lean, 2 default, 3 full)."""
        try:
            return min(3, max(1, int(self.params.get("_verbosity", "2"))))
        except ValueError:
            return 2


class BadRequest(Exception):
    """A malformed query parameter (400)."""


@dataclasses.dataclass
class Page:
    """One page of a list: its slice of the items and the `Pages` block describing it."""

    items: Sequence[Any]
    pages: dict[str, Any]


def paginate(
    query: Query,
    items: Sequence[Any],
    max_count: int,
    *,
    default_count: int = DEFAULT_COUNT,
    filters: Sequence[str] = (),
) -> Page:
    """Cut the page `start`/`count` asks for; `count` is clamped to `max_count`.

    The page links carry `count` and `start` plus the endpoint's own GET `filters` as the
    request sent them (still percent-encoded, so a `FileNames` list keeps the commas inside
    its names apart from the ones between them); `_expand` and every other parameter is left
    out.
    """
    try:
        start = int(query.params.get("start", "1"))
        requested = int(query.params.get("count", str(default_count)))
    except ValueError as exc:
        raise BadRequest("start and count must be integers") from exc
    start = max(1, start)
    if requested <= 0:
        requested = default_count
    requested = min(requested, max_count)
    total = len(items)
    chosen = items[start - 1 : start - 1 + requested]
    kept = [
        pair
        for pair in query.raw_query.split("&")
        if pair and unquote_plus(pair.partition("=")[0]) in filters
    ]

    def link(at: int) -> str:
        paging = urlencode([("count", requested), ("start", at)])
        return f"{query.path}?{'&'.join([*kept, paging])}"

    misaligned = (start - 1) % requested != 0
    if total == 0:
        last = 1 - requested
    elif misaligned:
        last = start + max(0, (total - start) // requested) * requested
    else:
        last = ((total - 1) // requested) * requested + 1
    pages: dict[str, Any] = {
        "Total": total,
        "Start": start,
        "Count": len(chosen),
        "RequestedCount": requested,
        "FirstPage": link(1),
        "LastPage": link(last),
    }
    if start + len(chosen) - 1 < total and chosen:
        pages["NextPage"] = link(start + requested)
    if start > 1 and not misaligned:
        pages["PrevPage"] = link(max(1, start - requested))
    if misaligned:
        pages["Misaligned"] = True
    return Page(chosen, pages)


def shape(obj: dict[str, Any], query: Query) -> dict[str, Any]:
    """Apply `_filter`, `_filteruri` and `_shorturis` (or `_verbosity=1`) to one payload object."""
    keep = query.names("_filter")
    if keep is not None:
        wanted = set(keep) | {"Uri", "UriDescription", "Uris"}
        obj = {k: v for k, v in obj.items() if k in wanted}
    uris = obj.get("Uris")
    if isinstance(uris, dict):
        keep_uris = query.names("_filteruri")
        if keep_uris is not None:
            uris = {k: v for k, v in uris.items() if k in keep_uris}
        # `_verbosity=1` also collapses each link to its URI string: lean clients (gallery-dl,
        # the Rust `smugmug` crate) send only `_verbosity=1` and read `Uris.Node` etc. as strings.
        if query.flag("_shorturis") or query.verbosity == 1:
            uris = {k: (v["Uri"] if isinstance(v, dict) else v) for k, v in uris.items()}
        obj = {**obj, "Uris": uris}
    return obj


def options_block(endpoint: Endpoint, query: Query, full: bool) -> dict[str, Any]:
    """The `Options` block: methods and parameters; with details at `_verbosity=3`."""
    used_types = {p["Type"] for params in endpoint.parameters.values() for p in params}
    out: dict[str, Any] = {
        "Methods": list(endpoint.methods),
        "ParameterDescription": {k: v for k, v in PARAMETER_DESCRIPTION.items() if k in used_types},
        "Parameters": {m: list(p) for m, p in endpoint.parameters.items()},
    }
    if full:
        out["MethodDetails"] = {
            m: {"Permissions": [endpoint.permissions.get(m, "Read")]} for m in endpoint.methods
        }
        out["MediaTypes"] = ["application/json", "text/html"]
        out["Path"] = [{"type": "path", "text": query.path}]
    return out


def envelope(
    query: Query,
    endpoint: Endpoint,
    *,
    status: int = 200,
    message: str | None = None,
    payload: Any = None,
    pages: dict[str, Any] | None = None,
    with_options: bool = False,
) -> dict[str, Any]:
    """The whole reply body for `endpoint`."""
    response = endpoint.at(query.uri)
    is_list = endpoint.locator_type == "Objects"
    # The service leaves the payload key out entirely when a list is empty.
    if payload is not None and not (is_list and not payload):
        response[endpoint.locator] = payload
    if pages is not None:
        response["Pages"] = pages
    body: dict[str, Any] = {}
    verbosity = query.verbosity
    if verbosity >= 3:
        body["Request"] = {"Version": "v2", "Method": query.method, "Uri": query.uri}
    if verbosity >= 3 or (verbosity == 2 and with_options):
        body["Options"] = options_block(endpoint, query, full=verbosity >= 3)
    body["Response"] = response
    body["Code"] = status
    body["Message"] = message or HTTP_MESSAGES.get(status, "Error")
    return body


def error_envelope(query: Query, endpoint: Endpoint | None, status: int, message: str) -> Any:
    """An error reply: the request metadata, no payload."""
    if endpoint is None:
        endpoint = Endpoint("Unknown", "", "Object", "")
    return envelope(query, endpoint, status=status, message=message)


Render = Callable[[Any], dict[str, Any]]
