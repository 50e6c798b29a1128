"""The emulator as an ASGI application: API, OAuth, upload, media and its own control paths.

`Service` ties the store to the HTTP surface:

- `/api/v2...`: the API (JSON with `Accept: application/json` or `_accept`, else the HTML
  "Live API browser"), rate-limit headers, 429 when the budget is spent;
- `/services/oauth/1.0a/{getRequestToken,authorize,getAccessToken}`: the login flow;
- `/upload` (and `/upload/<name>`): the upload endpoint;
- `/photos/...`: media bytes, with Range unless switched off;
- `/emulator/...`: counters, settings, users and tokens for tests and scripts. These need no
  signature and are never delayed, faulted or counted.

`ServiceConditions` wraps everything but `/emulator/` with latency, the cost of a new connection,
bandwidth, injected faults and counting.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from smugfs.emulator import (
    bandwidth,
    folders,
    image_download,
    media,
    oauth,
    templates,
    upload,
    wire,
)
from smugfs.emulator.api import Api, Reply
from smugfs.emulator.conditions import (
    Connections,
    Faults,
    RateLimited,
    RateLimiter,
    Settings,
    Stats,
)
from smugfs.emulator.handling import Call
from smugfs.emulator.model import Token
from smugfs.emulator.oauth import NonceLedger, OAuthProblem, Principal
from smugfs.emulator.store import ServiceError, Store
from smugfs.emulator.views import View

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SAVE_INTERVAL = 0.5
# The longest an upload is held unanswered by `uploads_held`: a test that forgets to let go
# gets its answers late, never a hung client.
UPLOAD_HOLD_LIMIT = 120.0


class DroppedConnection(Exception):
    """Raised to make the HTTP server cut a connection (an injected fault)."""


class Service:
    """One emulated SmugMug: its state, its conditions and its HTTP surface."""

    def __init__(self, store: Store, settings: Settings, env_file: Path | None = None) -> None:
        self.store = store
        self.settings = settings
        self.stats = Stats()
        self.faults = Faults(settings)
        self.rate_limiter = RateLimiter(settings)
        self.connections = Connections()
        self.link = bandwidth.Link(settings)
        self.nonces = NonceLedger()
        self.api = Api(store, (folders.routes, templates.routes, image_download.routes))
        self.renditions = media.Renditions()
        self.env_file = env_file
        self.env_lines: list[str] = []
        # Set while uploads are not held (`Settings.uploads_held`), so held ones go on at once.
        self.uploads_let_go = asyncio.Event()
        self._follow_settings()
        routes = [
            Route(
                "/api/v2{rest:path}",
                self.api_endpoint,
                methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS", "PUT"],
            ),
            Route(
                "/services/oauth/1.0a/getRequestToken", self.request_token, methods=["GET", "POST"]
            ),
            Route("/services/oauth/1.0a/authorize", self.authorize, methods=["GET", "POST"]),
            Route(
                "/services/oauth/1.0a/getAccessToken", self.access_token, methods=["GET", "POST"]
            ),
            Route("/upload", self.upload_endpoint, methods=["POST", "PUT"]),
            Route("/upload/{name:path}", self.upload_endpoint, methods=["POST", "PUT"]),
            Route("/photos/{rest:path}", self.media_endpoint, methods=["GET", "HEAD"]),
            Route("/emulator/stats", self.get_stats, methods=["GET"]),
            Route("/emulator/stats/reset", self.reset_stats, methods=["POST"]),
            Route("/emulator/config", self.config, methods=["GET", "POST"]),
            Route("/emulator/users", self.create_user, methods=["POST"]),
            Route("/emulator/tokens", self.create_token, methods=["POST"]),
            Route("/emulator/health", self.health, methods=["GET"]),
        ]
        self.app: ASGIApp = ServiceConditions(
            Starlette(routes=routes, lifespan=self.lifespan), self
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Save the state periodically while serving, and once more on the way out."""
        saver = asyncio.create_task(self._save_periodically())
        if self.env_file is not None and self.env_lines:
            tmp = self.env_file.with_name(self.env_file.name + ".tmp")
            tmp.unlink(missing_ok=True)
            # Created private: the credentials are never readable by others, not even briefly.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write("\n".join(self.env_lines) + "\n")
            tmp.replace(self.env_file)
        try:
            yield
        finally:
            saver.cancel()
            self.store.save()

    async def _save_periodically(self) -> None:
        while True:
            await asyncio.sleep(SAVE_INTERVAL)
            if self.store.dirty:
                self.store.save()

    # ------------------------------------------------------------------ helpers

    def base_url(self, request: Request) -> str:
        """The address the client reached us at (scheme and Host header)."""
        host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
        return f"{request.url.scheme}://{host}"

    def signed_url(self, request: Request) -> str:
        """The signature base URL: scheme, Host header and the raw (still encoded) path."""
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        return self.base_url(request) + raw_path.decode("latin-1").split("?")[0]

    def check_signature(
        self,
        request: Request,
        form: list[tuple[str, str]],
        *,
        token_kinds: tuple[str, ...] = ("access",),
        require_token: bool = False,
    ) -> tuple[Principal, dict[str, str], Token | None] | None:
        """`oauth.verify` for this request as it arrived (see `oauth.verify`)."""
        return oauth.verify(
            self.store,
            self.nonces,
            method=request.method,
            base_url=self.signed_url(request),
            query=parse_qsl(request.url.query, keep_blank_values=True),
            form=form,
            authorization=request.headers.get("authorization"),
            token_kinds=token_kinds,
            require_token=require_token,
        )

    async def authenticate(
        self, request: Request, form: list[tuple[str, str]], *, allow_api_key: bool = True
    ) -> Principal | None:
        """The principal of a request (None when it carries no credentials at all)."""
        query = parse_qsl(request.url.query, keep_blank_values=True)
        checked = self.check_signature(request, form)
        if checked is not None:
            return checked[0]
        api_key = dict(query).get("APIKey") or request.headers.get("x-smug-apikey")
        if api_key and allow_api_key:
            if api_key not in self.store.api_keys:
                raise OAuthProblem("consumer_key_unknown")
            return Principal(api_key)
        return None

    # ------------------------------------------------------------------ API

    async def api_endpoint(self, request: Request) -> Response:
        """Every `/api/v2` request."""
        params = dict(parse_qsl(request.url.query, keep_blank_values=True))
        method = request.method
        if method == "POST" and params.get("_method", "").upper() in ("PATCH", "DELETE"):
            method = params["_method"].upper()
        query = wire.Query(method, request.url.path, request.url.query, params)
        wants_json = "application/json" in request.headers.get("accept", "") or params.get(
            "_accept", ""
        ).startswith("application/json")
        self.store.listing_delay = self.settings.listing_delay_ms / 1000
        # Refusals made before the handler runs still describe the endpoint asked for.
        found = self.api.route(query.path)
        endpoint = found[0].endpoint if found else None
        try:
            body, form = await _read_body(request)
        except ValueError as exc:
            return self._api_response(
                Reply(400, wire.error_envelope(query, endpoint, 400, str(exc))),
                query,
                wants_json,
                {},
            )
        try:
            principal = await self.authenticate(request, form)
        except OAuthProblem as exc:
            reply = Reply(exc.status, wire.error_envelope(query, endpoint, exc.status, exc.message))
            return self._api_response(reply, query, wants_json, {})
        if principal is None:
            problem = OAuthProblem("parameter_absent")
            reply = Reply(401, wire.error_envelope(query, endpoint, 401, problem.message))
            return self._api_response(reply, query, wants_json, {})
        caller = f"{principal.api_key}:{principal.nick or ''}"
        try:
            remaining, reset = self.rate_limiter.spend(caller)
        except RateLimited as exc:
            reply = Reply(429, wire.error_envelope(query, endpoint, 429, "Too Many Requests"))
            headers = {
                "Retry-After": str(exc.retry_after),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(exc.reset),
            }
            return self._api_response(reply, query, wants_json, headers)
        view = View(self.store, self.base_url(request), principal.viewer)
        reply = self.api.handle(Call(query, body, principal, view))
        if reply.list_items and self.settings.item_cost_ms > 0:
            # The real service spends tens of milliseconds of server time per listed item.
            await asyncio.sleep(reply.list_items * self.settings.item_cost_ms / 1000)
        headers = {"X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(reset)}
        return self._api_response(reply, query, wants_json, headers)

    def _api_response(
        self, reply: Reply, query: wire.Query, wants_json: bool, headers: dict[str, str]
    ) -> Response:
        headers = {**headers, "Cache-Control": "private, no-store, no-cache, max-age=0"}
        if not wants_json:
            # Without asking for JSON a caller gets the service's HTML Live API browser.
            pretty = json.dumps(reply.body, indent=2)
            page = (
                "<!DOCTYPE html><html><head><title>SmugMug API Live Browser</title></head>"
                f"<body><h1>{html.escape(query.path)}</h1><pre>{html.escape(pretty)}</pre>"
                "</body></html>"
            )
            return HTMLResponse(page, status_code=reply.status, headers=headers)
        indent = 2 if query.flag("_pretty") else None
        text = json.dumps(reply.body, indent=indent, separators=None if indent else (",", ":"))
        return Response(
            text,
            status_code=reply.status,
            headers=headers,
            media_type="application/json; charset=utf-8",
        )

    # ------------------------------------------------------------------ OAuth login

    async def request_token(self, request: Request) -> Response:
        """Step 1 of the login: a request token."""
        _, form = await _read_body(request)
        try:
            checked = self.check_signature(request, form, token_kinds=())
            if checked is None:
                raise OAuthProblem("parameter_absent")
            principal, params, _ = checked
            token = oauth.issue_request_token(self.store, principal.api_key, params)
        except OAuthProblem as exc:
            return PlainTextResponse(exc.message, status_code=exc.status)
        return _form_response(
            {
                "oauth_token": token.token,
                "oauth_token_secret": token.secret,
                "oauth_callback_confirmed": "true",
            }
        )

    async def authorize(self, request: Request) -> Response:
        """Step 2: the user grants access. There is nobody to sign in here, so the grant is
        given at once for the user named by `username` (or the first user), and the verifier
        is shown (`oob`) or sent to the callback."""
        params = dict(parse_qsl(request.url.query, keep_blank_values=True))
        if request.method == "POST":
            params.update(dict((await _read_body(request))[1]))
        try:
            token = oauth.approve(
                self.store,
                params.get("oauth_token", ""),
                params.get("username") or None,
                params.get("Access", "Public"),
                params.get("Permissions", "Read"),
            )
        except OAuthProblem as exc:
            return HTMLResponse(
                "<html><body><p>Authorization failed: "
                f"{html.escape(exc.message)}</p></body></html>",
                status_code=exc.status,
            )
        if token.callback != "oob":
            separator = "&" if "?" in token.callback else "?"
            target = (
                token.callback
                + separator
                + urlencode({"oauth_token": token.token, "oauth_verifier": token.verifier})
            )
            return RedirectResponse(target, status_code=302)
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"oauth_token": token.token, "oauth_verifier": token.verifier})
        return HTMLResponse(
            "<!DOCTYPE html><html><head><title>Authorize</title></head><body>"
            f"<p>{html.escape(token.nick)} granted {html.escape(token.access)} access with "
            f"{html.escape(token.permissions)} permissions.</p>"
            f'<p>Enter this code in the application: <code id="verifier">{token.verifier}</code>'
            "</p></body></html>"
        )

    async def access_token(self, request: Request) -> Response:
        """Step 3: the verified request token becomes an access token."""
        _, form = await _read_body(request)
        try:
            checked = self.check_signature(
                request, form, token_kinds=("request",), require_token=True
            )
            if checked is None or checked[2] is None:
                raise OAuthProblem("parameter_absent")
            _, params, request_token = checked
            assert request_token is not None
            token = oauth.exchange(self.store, request_token, params.get("oauth_verifier", ""))
        except OAuthProblem as exc:
            return PlainTextResponse(exc.message, status_code=exc.status)
        return _form_response({"oauth_token": token.token, "oauth_token_secret": token.secret})

    # ------------------------------------------------------------------ upload

    async def upload_endpoint(self, request: Request) -> Response:
        """The upload endpoint (POST or PUT of the raw bytes, or a multipart form)."""
        data, part_name = await _upload_body(request)
        self.stats.upload_bytes += len(data)
        await self._while_uploads_held()
        authorization = request.headers.get("authorization")
        if not oauth.parse_authorization(authorization):
            # The uploader takes its OAuth parameters from the Authorization header only: an
            # upload signed in the query string (or not at all) is refused.
            return JSONResponse(upload.fail(401, "oauth_problem=parameter_absent"), 401)
        try:
            # Only the Authorization header signs an upload; the body is not part of it.
            checked = self.check_signature(request, [])
        except OAuthProblem as exc:
            return JSONResponse(upload.fail(401, exc.message), status_code=401)
        if checked is None or checked[0].nick is None:
            return JSONResponse(upload.fail(401, "oauth_problem=parameter_absent"), 401)
        view = View(self.store, self.base_url(request), checked[0].viewer)
        # An upload made before any API request (or right after a run-time change) must see
        # the listing delay now in force, not the one the last API request left behind.
        self.store.listing_delay = self.settings.listing_delay_ms / 1000
        # A header sent twice arrives joined, as the real uploader sees it: `X-Smug-FileName`
        # sent twice named an image "foo.jpg, foo.jpg" (phpSmug#19).
        headers = {k: ", ".join(request.headers.getlist(k)) for k in request.headers}
        smug_headers = _canonical(headers)
        body = upload.upload(
            self.store,
            view,
            checked[0],
            smug_headers,
            data,
            path_name=request.path_params.get("name", ""),
            part_name=part_name,
        )
        return JSONResponse(body)

    async def _while_uploads_held(self) -> None:
        """Wait while `uploads_held` is set (at most UPLOAD_HOLD_LIMIT seconds)."""
        if self.settings.uploads_held:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.uploads_let_go.wait(), UPLOAD_HOLD_LIMIT)

    # ------------------------------------------------------------------ media

    async def media_endpoint(self, request: Request) -> Response:
        """Photo and video bytes."""
        # A rendition not made yet is a decode and a resize: kept off the event loop.
        found = await asyncio.to_thread(
            media.resolve, self.store, self.renditions, request.url.path
        )
        if found is None:
            return PlainTextResponse("Not Found", status_code=404)
        node = self.store.album_node(self.store.albums[found.image.album_key])
        if self.store.effective_privacy(node) == "Private":
            try:
                principal = await self.authenticate(request, [], allow_api_key=False)
            except OAuthProblem as exc:
                return PlainTextResponse(exc.message, status_code=401)
            if principal is None or principal.viewer != node.owner:
                return PlainTextResponse("Unauthorized", status_code=401)
        return await self._send_media(request, found)

    async def _send_media(self, request: Request, found: media.MediaFile) -> Response:
        size = found.size
        headers = {
            "ETag": f'"{found.etag}"',
            "Cache-Control": "public, max-age=31536000",
            "Content-Disposition": "inline",
        }
        wanted = None
        if self.settings.range_enabled:
            headers["Accept-Ranges"] = "bytes"
            wanted = media.parse_range(request.headers.get("range"), size)
            if wanted is False:
                headers["Content-Range"] = f"bytes */{size}"
                return Response(b"", status_code=416, headers=headers)
        first, last, status = 0, size - 1, 200
        if isinstance(wanted, tuple):
            first, last = wanted
            status = 206
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        length = max(0, last - first + 1)
        headers["Content-Length"] = str(length)
        if request.method == "HEAD":
            return Response(b"", status_code=status, headers=headers, media_type=found.content_type)
        if isinstance(found.body, bytes):
            return Response(
                found.body[first : last + 1],
                status_code=status,
                headers=headers,
                media_type=found.content_type,
            )
        return FileRangeResponse(found.body, first, length, status, headers, found.content_type)

    # ------------------------------------------------------------------ /emulator

    async def get_stats(self, request: Request) -> Response:
        """`GET /emulator/stats`."""
        return JSONResponse(self.stats.public())

    async def reset_stats(self, request: Request) -> Response:
        """`POST /emulator/stats/reset`."""
        self.stats.reset()
        return JSONResponse(self.stats.public())

    async def config(self, request: Request) -> Response:
        """`GET/POST /emulator/config`: read or change the settings while running."""
        if request.method == "POST":
            try:
                changes = json.loads(await request.body() or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("a JSON object is expected")
                self.settings.update(changes)
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            self._follow_settings()
        return JSONResponse(self.settings.public())

    def _follow_settings(self) -> None:
        """Bring what waits on the settings in line with them."""
        if self.settings.uploads_held:
            self.uploads_let_go.clear()
        else:
            self.uploads_let_go.set()

    async def create_user(self, request: Request) -> Response:
        """`POST /emulator/users` `{"nick": ..., "name": ...}`: a new account."""
        try:
            data = json.loads(await request.body() or b"{}")
            user = self.store.create_user(str(data["nick"]), str(data.get("name", data["nick"])))
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"bad request: {exc}"}, status_code=400)
        except ServiceError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        return JSONResponse({"nick": user.nick, "root_node_id": user.root_node_id}, status_code=201)

    async def create_token(self, request: Request) -> Response:
        """`POST /emulator/tokens` `{"nick", "access", "permissions"}`: an access token."""
        try:
            data = json.loads(await request.body() or b"{}")
            nick = str(data.get("nick") or next(iter(self.store.users)))
            if nick not in self.store.users:
                raise ValueError(f"no user {nick}")
            access = str(data.get("access", "Full"))
            permissions = str(data.get("permissions", "Modify"))
            if access not in oauth.ACCESS_LEVELS or permissions not in oauth.PERMISSION_LEVELS:
                raise ValueError("bad access or permissions")
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        key = next(iter(self.store.api_keys.values()))
        token = self.store.create_access_token(
            key.key, nick, access=access, permissions=permissions
        )
        return JSONResponse(
            {
                "api_key": key.key,
                "api_secret": key.secret,
                "access_token": token.token,
                "access_token_secret": token.secret,
                "nick": nick,
            },
            status_code=201,
        )

    async def health(self, request: Request) -> Response:
        """`GET /emulator/health`."""
        return JSONResponse({"ok": True, "users": sorted(self.store.users)})


class FileRangeResponse(Response):
    """Streams part of a file in large chunks (fast on loopback, bounded memory)."""

    def __init__(
        self,
        path: Path,
        offset: int,
        length: int,
        status: int,
        headers: dict[str, str],
        content_type: str,
    ) -> None:
        super().__init__(status_code=status, headers=headers, media_type=content_type)
        self.path = path
        self.offset = offset
        self.length = length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        fd = media.open_file(self.path)
        try:
            position, end = self.offset, self.offset + self.length
            while position < end:
                chunk = media.read_chunk(fd, position, min(media.CHUNK, end - position))
                if not chunk:
                    break
                position += len(chunk)
                await send(
                    {"type": "http.response.body", "body": chunk, "more_body": position < end}
                )
            if position < end or self.length == 0:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            media.close_file(fd)


class ServiceConditions:
    """Latency, bandwidth, injected faults and request counting around every non-`/emulator/`
    path."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/emulator/"):
            await self.app(scope, receive, send)
            return
        service = self.service
        settings = service.settings
        service.stats.count(scope["method"], path)
        if service.connections.is_new(scope.get("client")):
            service.stats.connections += 1
            if settings.connect_ms > 0:
                await asyncio.sleep(settings.connect_ms / 1000)
        connection = service.link.connection()
        send, receive = connection.send(send), connection.receive(receive)
        if settings.latency_ms > 0:
            await asyncio.sleep(settings.latency_ms / 1000)
        fault = service.faults.draw()
        if fault is not None:
            service.stats.faults[fault] += 1
        if fault in ("429", "500", "503"):
            await self._fail(int(fault or 500), path, send)
            return
        is_media = path.startswith("/photos/")
        if fault in ("gateway", "malformed") and not is_media:
            await self._apply_then_garble(fault, scope, receive, send)
            return
        if fault == "gateway":
            # A media read has nothing to apply: the gateway fails before the server is asked.
            await self._fail(502, path, send)
            return
        if fault == "drop":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"1024")],
                }
            )
            raise DroppedConnection("injected: connection dropped")
        if is_media:
            service.stats.count_media_request(path)
        state = {"length": 0, "sent": 0}

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-length":
                        state["length"] = int(value)
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                if fault == "truncate":
                    # Send about half of the body, then cut the connection.
                    allowed = max(0, state["length"] // 2 - state["sent"])
                    if len(body) >= allowed:
                        await send(
                            {
                                "type": "http.response.body",
                                "body": body[:allowed],
                                "more_body": True,
                            }
                        )
                        if is_media:
                            service.stats.count_media(path, allowed)
                        raise DroppedConnection("injected: body truncated")
                state["sent"] += len(body)
                if is_media:
                    service.stats.count_media(path, len(body))
            await send(message)

        await self.app(scope, receive, counting_send)

    async def _apply_then_garble(
        self, fault: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Run the request (so a write has happened), then hide its answer: `gateway` answers
        502 with a proxy's HTML page, `malformed` answers 200 with a JSON body cut short."""
        captured: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.body":
                captured.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        if fault == "gateway":
            status, content_type = 502, b"text/html"
            payload = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        else:
            status, content_type = 200, b"application/json; charset=utf-8"
            body = b"".join(captured)
            payload = body[: max(1, len(body) // 2)]
        headers = [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _fail(self, status: int, path: str, send: Send) -> None:
        headers = [(b"content-type", b"application/json; charset=utf-8")]
        if status == 429:
            headers.append((b"retry-after", b"1"))
        if path.startswith("/upload"):
            body = upload.fail(5, "system error")
        else:
            body = {
                "Response": {"Uri": path},
                "Code": status,
                "Message": wire.HTTP_MESSAGES.get(status, "Error"),
            }
        payload = json.dumps(body).encode()
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


async def _read_body(request: Request) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The parameters of a POST/PATCH body (JSON, form or multipart) and, for form bodies,
    the pairs that are part of the OAuth signature."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return {}, []
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not raw:
        return {}, []
    if content_type == "application/x-www-form-urlencoded":
        pairs = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
        return _collect(pairs), pairs
    if content_type == "multipart/form-data":
        form = await request.form()
        fields = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        return _collect(fields), []
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError("The request body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ValueError("The request body must be a JSON object")
    return data, []


def _collect(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Form pairs as a dict; a repeated (or `name[]`) key becomes a list."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        name = key[:-2] if key.endswith("[]") else key
        if name in out or key.endswith("[]"):
            existing = out.get(name, [])
            out[name] = [*(existing if isinstance(existing, list) else [existing]), value]
        else:
            out[name] = value
    return out


async def _upload_body(request: Request) -> tuple[bytes, str]:
    """The uploaded bytes and, for a multipart upload, the file part's name."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        for _, value in form.multi_items():
            if not isinstance(value, str):
                return await value.read(), value.filename or ""
        return b"", ""
    return await request.body(), ""


def _canonical(headers: dict[str, str]) -> dict[str, str]:
    """Headers keyed by their canonical spelling (`X-Smug-AlbumUri`, `Content-MD5`)."""
    names = {
        "x-smug-albumuri": "X-Smug-AlbumUri",
        "x-smug-filename": "X-Smug-FileName",
        "x-smug-responsetype": "X-Smug-ResponseType",
        "x-smug-version": "X-Smug-Version",
        "x-smug-imageuri": "X-Smug-ImageUri",
        "x-smug-title": "X-Smug-Title",
        "x-smug-caption": "X-Smug-Caption",
        "x-smug-keywords": "X-Smug-Keywords",
        "x-smug-hidden": "X-Smug-Hidden",
        "x-smug-latitude": "X-Smug-Latitude",
        "x-smug-longitude": "X-Smug-Longitude",
        "x-smug-altitude": "X-Smug-Altitude",
        "content-md5": "Content-MD5",
    }
    return {names.get(k.lower(), k): v for k, v in headers.items()}


def _form_response(values: dict[str, str]) -> Response:
    return PlainTextResponse(urlencode(values), media_type="application/x-www-form-urlencoded")
