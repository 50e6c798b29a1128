"""OAuth 1.0a as the service checks it: signatures, nonces, grants and the login flow.

Every API, upload and private-media request is checked for a valid HMAC-SHA1 (or PLAINTEXT)
signature over the request as it arrived: the scheme, the `Host` header and the raw path, the
query string, form-encoded body parameters (JSON and upload bodies are not signed) and the
`oauth_*` parameters from the `Authorization` header, the query string or the form body. A
failure is an `OAuthProblem` that the API answers with 401 and `oauth_problem=...`.

The login flow is the three steps of the real service: `getRequestToken` (an `oauth_callback`
is required, `oob` for a six-digit verifier), `authorize` (here approved at once for the named
or first user, since there is nobody to sign in), and `getAccessToken`.
"""

from __future__ import annotations

import collections
import dataclasses
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from urllib.parse import unquote

from authlib.oauth1.rfc5849 import signature as oauth_signature

from smugfs.emulator.model import Token
from smugfs.emulator.store import Store

TIMESTAMP_WINDOW = 15 * 60
REQUEST_TOKEN_LIFETIME = 5 * 60
ACCESS_LEVELS = ("Public", "Full")
PERMISSION_LEVELS = ("Read", "Add", "Modify")
_HEADER_PARAM = re.compile(r'\s*([^=\s,]+)\s*=\s*"([^"]*)"\s*,?')


class OAuthProblem(Exception):
    """A request the service refuses with 401 and `oauth_problem=<problem>`."""

    def __init__(self, problem: str, status: int = 401) -> None:
        super().__init__(problem)
        self.problem = problem
        self.status = status

    @property
    def message(self) -> str:
        """The `Message` the service puts in its reply."""
        return f"oauth_problem={self.problem}"


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who a request speaks for: an application, and a user if a token was used."""

    api_key: str
    nick: str | None = None
    access: str = "Public"
    permissions: str = "Read"

    @property
    def viewer(self) -> str | None:
        """The user whose private records this request may see (Full access only)."""
        return self.nick if self.access == "Full" else None

    def may(self, permission: str) -> bool:
        """Whether the grant covers `permission` (Read < Add < Modify)."""
        return PERMISSION_LEVELS.index(self.permissions) >= PERMISSION_LEVELS.index(permission)


def parse_authorization(header: str | None) -> list[tuple[str, str]]:
    """The parameters of an `Authorization: OAuth ...` header ([] for other schemes)."""
    if not header or header[:6].lower() != "oauth ":
        return []
    return [(unquote(k), unquote(v)) for k, v in _HEADER_PARAM.findall(header[6:])]


class NonceLedger:
    """Nonces seen in the timestamp window, so that a replayed request is refused."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, str], float] = {}
        self._order: collections.deque[tuple[float, tuple[str, str, str]]] = collections.deque()

    def check_and_add(self, key: str, timestamp: str, nonce: str) -> None:
        """Refuse a nonce used before with the same key and timestamp."""
        clock = time.monotonic()
        while self._order and self._order[0][0] < clock - TIMESTAMP_WINDOW:
            _, old = self._order.popleft()
            self._seen.pop(old, None)
        entry = (key, timestamp, nonce)
        if entry in self._seen:
            raise OAuthProblem("nonce_used")
        self._seen[entry] = clock
        self._order.append((clock, entry))


def verify(
    store: Store,
    nonces: NonceLedger,
    *,
    method: str,
    base_url: str,
    query: Sequence[tuple[str, str]],
    form: Sequence[tuple[str, str]],
    authorization: str | None,
    token_kinds: tuple[str, ...] = ("access",),
    require_token: bool = False,
) -> tuple[Principal, dict[str, str], Token | None] | None:
    """Check a request's OAuth signature.

    Returns None when the request carries no OAuth parameters at all (the caller then looks for
    `APIKey`), else the principal, the request's `oauth_*` parameters and the token used.
    """
    header_params = parse_authorization(authorization)
    sources = [
        [p for p in header_params if p[0].startswith("oauth_")],
        [p for p in query if p[0].startswith("oauth_")],
        [p for p in form if p[0].startswith("oauth_")],
    ]
    used = [s for s in sources if s]
    if not used:
        return None
    if len(used) > 1:
        raise OAuthProblem("parameter_rejected")
    oauth = dict(used[0])
    for required in ("oauth_consumer_key", "oauth_signature_method", "oauth_signature"):
        if not oauth.get(required):
            raise OAuthProblem("parameter_absent")
    method_name = oauth["oauth_signature_method"]
    if method_name not in ("HMAC-SHA1", "PLAINTEXT"):
        raise OAuthProblem("signature_method_rejected")
    if oauth.get("oauth_version", "1.0") != "1.0":
        raise OAuthProblem("version_rejected")
    consumer = store.api_keys.get(oauth["oauth_consumer_key"])
    if consumer is None:
        raise OAuthProblem("consumer_key_unknown")
    token: Token | None = None
    token_secret = ""
    if oauth.get("oauth_token"):
        token = store.tokens.get(oauth["oauth_token"])
        if token is None or token.kind not in token_kinds or token.api_key != consumer.key:
            raise OAuthProblem("token_rejected")
        token_secret = token.secret
    elif require_token:
        raise OAuthProblem("parameter_absent")
    if method_name == "HMAC-SHA1":
        timestamp = oauth.get("oauth_timestamp", "")
        nonce = oauth.get("oauth_nonce", "")
        if not timestamp.isdigit() or not nonce:
            raise OAuthProblem("parameter_absent")
        if abs(time.time() - int(timestamp)) > TIMESTAMP_WINDOW:
            raise OAuthProblem("timestamp_refused")
        params = [p for p in header_params if p[0] not in ("realm", "oauth_signature")]
        params += [p for p in query if p[0] != "oauth_signature"]
        params += [p for p in form if p[0] != "oauth_signature"]
        base_string = oauth_signature.construct_base_string(method.upper(), base_url, params)
        expected = oauth_signature.hmac_sha1_signature(base_string, consumer.secret, token_secret)
        if not hmac.compare_digest(expected, oauth["oauth_signature"]):
            raise OAuthProblem("signature_invalid")
        nonces.check_and_add(consumer.key, timestamp, nonce)
    else:
        expected = oauth_signature.plaintext_signature(consumer.secret, token_secret)
        if not hmac.compare_digest(expected, oauth["oauth_signature"]):
            raise OAuthProblem("signature_invalid")
    if token is not None and token.kind == "access":
        principal = Principal(consumer.key, token.nick, token.access, token.permissions)
    else:
        principal = Principal(consumer.key)
    return principal, oauth, token


# --------------------------------------------------------------------- the login flow


def issue_request_token(store: Store, api_key: str, oauth: Mapping[str, str]) -> Token:
    """Step 1: a request token, valid for five minutes, remembering the callback."""
    callback = oauth.get("oauth_callback", "")
    if not callback:
        raise OAuthProblem("parameter_absent")
    return store.issue_token(api_key, "request", callback=callback)


def approve(store: Store, token_key: str, nick: str | None, access: str, permissions: str) -> Token:
    """Step 2: the user grants the application `access`/`permissions`; sets the verifier."""
    token = store.tokens.get(token_key)
    if token is None or token.kind != "request" or _expired(token):
        raise OAuthProblem("token_rejected")
    if access not in ACCESS_LEVELS or permissions not in PERMISSION_LEVELS:
        raise OAuthProblem("permission_unknown", status=400)
    if nick is None:
        nick = next(iter(store.users), None)
    if nick is None or nick not in store.users:
        raise OAuthProblem("user_unknown", status=400)
    token.nick = nick
    token.access = access
    token.permissions = permissions
    # The verifier is the six-digit code the user types back into the application.
    token.verifier = store.new_digits(6)
    return token


def exchange(store: Store, request_token: Token, verifier: str) -> Token:
    """Step 3: a verified request token becomes an access token (single use)."""
    if _expired(request_token):
        store.tokens.pop(request_token.token, None)
        raise OAuthProblem("token_expired")
    if not request_token.verifier or not hmac.compare_digest(request_token.verifier, verifier):
        raise OAuthProblem("verifier_invalid")
    store.tokens.pop(request_token.token, None)
    return store.create_access_token(
        request_token.api_key,
        request_token.nick,
        access=request_token.access,
        permissions=request_token.permissions,
    )


def _expired(token: Token) -> bool:
    return time.time() - token.created > REQUEST_TOKEN_LIFETIME
