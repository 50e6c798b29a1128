"""The HTTP side of logging in: SmugMug's OAuth 1.0a token endpoints and `!authuser`.

Each step is one signed request (authlib's RFC 5849 client core, through `OAuth1Signer`):

1. `request_token`: a request token, asked for with `oauth_callback=oob`;
2. `authorize_url`: the page the user opens (`Access=Full&Permissions=Modify`), where SmugMug
   shows a six-digit code;
3. `access_token`: the request token and that code exchanged for an access token;
4. `whoami`: the account an access token belongs to.

A service that cannot be reached is `Offline`; a refused step is `OAuthRefused`, carrying what
the service said (`oauth_problem=...`, never a credential). These run before any mount, so
they are plain blocking requests.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode

import httpx

from smugfs.api.signing import OAuth1Signer
from smugfs.config import Credentials
from smugfs.errors import AccessDenied, Offline, ProtocolError, SmugfsError

OAUTH_PATH = "/services/oauth/1.0a"
TIMEOUT = 30.0


class OAuthRefused(SmugfsError):
    """The service refused a step of the login; `problem` says why in its own words."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _base(endpoint: str) -> str:
    return endpoint.rstrip("/") + OAUTH_PATH


def _post(endpoint: str, url: str, signer: OAuth1Signer) -> httpx.Response:
    try:
        with httpx.Client(auth=signer, timeout=TIMEOUT) as http:
            return http.post(url)
    except httpx.TransportError as exc:
        raise Offline(f"cannot reach {endpoint}: {type(exc).__name__}") from exc


def _token(endpoint: str, url: str, signer: OAuth1Signer) -> tuple[str, str]:
    """The `oauth_token` and `oauth_token_secret` a token endpoint answered."""
    response = _post(endpoint, url, signer)
    found = dict(parse_qsl(response.text)) if response.status_code == 200 else {}
    token, secret = found.get("oauth_token"), found.get("oauth_token_secret")
    if not token or not secret:
        problem = re.search(r"oauth_problem=[A-Za-z_]+", response.text)
        raise OAuthRefused(problem.group(0) if problem else f"HTTP {response.status_code}")
    return token, secret


def request_token(endpoint: str, api_key: str, api_secret: str) -> tuple[str, str]:
    """A request token and its secret, for the out-of-band (code) flow."""
    signer = OAuth1Signer(Credentials(api_key, api_secret), callback="oob")
    return _token(endpoint, _base(endpoint) + "/getRequestToken", signer)


def authorize_url(endpoint: str, token: str) -> str:
    """The page where the user allows full access and is shown the code."""
    query = urlencode({"oauth_token": token, "Access": "Full", "Permissions": "Modify"})
    return f"{_base(endpoint)}/authorize?{query}"


def access_token(
    endpoint: str, api_key: str, api_secret: str, request: tuple[str, str], code: str
) -> tuple[str, str]:
    """The access token and its secret for a request token and the code the user typed."""
    signer = OAuth1Signer(Credentials(api_key, api_secret, *request), verifier=code)
    return _token(endpoint, _base(endpoint) + "/getAccessToken", signer)


def whoami(endpoint: str, credentials: Credentials) -> tuple[str, str]:
    """The nickname and name of the account the credentials belong to."""
    try:
        with httpx.Client(auth=OAuth1Signer(credentials), timeout=TIMEOUT) as http:
            response = http.get(
                endpoint.rstrip("/") + "/api/v2!authuser", headers={"Accept": "application/json"}
            )
    except httpx.TransportError as exc:
        raise Offline(f"cannot reach {endpoint}: {type(exc).__name__}") from exc
    if response.status_code in (401, 403):
        try:
            message = str(response.json().get("Message") or "")
        except ValueError:
            message = f"HTTP {response.status_code}"
        raise AccessDenied(
            f"the service refused the saved token ({message}); run smugfs login again"
        )
    if response.status_code != 200:
        raise ProtocolError(f"{endpoint} answered HTTP {response.status_code}")
    try:
        user = response.json()["Response"]["User"]
        return str(user["NickName"]), str(user.get("Name") or "")
    except (ValueError, KeyError, TypeError) as exc:
        raise ProtocolError(f"{endpoint} sent a reply without the account") from exc
