"""`smugfs login`: SmugMug's OAuth 1.0a flow, with authlib doing the signing.

1. A request token, asked for with `oauth_callback=oob`.
2. The authorize URL with `Access=Full&Permissions=Modify`, which the user opens; SmugMug shows
   a six-digit code.
3. The code typed back, exchanged for an access token, which `!authuser` confirms.

Failures are one line that says what to do; the key, secret and tokens never appear in them.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

import authlib.deprecate  # noqa: F401  (installs authlib's own warning filter first)
import httpx

with warnings.catch_warnings():
    # authlib announces a rename of its httpx integration on import; the client is current.
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import OAuth1Client

from smugfs.auth import OAuth1Signer
from smugfs.config import Credentials
from smugfs.errors import AccessDenied, ConfigurationError, SmugfsError
from smugfs.token_store import SavedLogin

OAUTH_PATH = "/services/oauth/1.0a"
TIMEOUT = 30.0


class LoginError(SmugfsError):
    """The login could not be completed (the message says why and what to do)."""


def _problem(exc: Exception) -> str:
    """What the service said about a refused OAuth step, without any credential."""
    response = getattr(exc, "response", None)
    text = response.text if isinstance(response, httpx.Response) else str(exc)
    found = re.search(r"oauth_problem=[A-Za-z_]+", text)
    if found:
        return found.group(0)
    if isinstance(response, httpx.Response):
        return f"HTTP {response.status_code}"
    return type(exc).__name__


def login(
    endpoint: str,
    api_key: str,
    api_secret: str,
    *,
    show: Callable[[str], None],
    ask_code: Callable[[], str],
) -> SavedLogin:
    """Run the flow; returns the login to save."""
    if not api_key or not api_secret:
        raise ConfigurationError(
            "login needs your API key and secret: set SMUGFS_API_KEY and SMUGFS_API_SECRET, "
            "put api_key and api_secret in the config file, or pass --api-key "
            "(get a key at https://api.smugmug.com/api/developer/apply)"
        )
    base = endpoint.rstrip("/") + OAUTH_PATH
    client = OAuth1Client(api_key, api_secret, redirect_uri="oob", timeout=TIMEOUT)
    try:
        try:
            client.fetch_request_token(base + "/getRequestToken")
        except httpx.TransportError as exc:
            raise LoginError(f"cannot reach {endpoint}: {type(exc).__name__}") from exc
        except Exception as exc:
            raise LoginError(
                f"the service refused the API key and secret ({_problem(exc)}); "
                "check them in your SmugMug account settings"
            ) from exc
        url = client.create_authorization_url(
            base + "/authorize", Access="Full", Permissions="Modify"
        )
        show(url)
        code = ask_code().strip()
        if not code:
            raise LoginError("no code was entered; run smugfs login again")
        try:
            token: dict[str, Any] = client.fetch_access_token(
                base + "/getAccessToken", verifier=code
            )
        except httpx.TransportError as exc:
            raise LoginError(f"cannot reach {endpoint}: {type(exc).__name__}") from exc
        except Exception as exc:
            raise LoginError(
                f"the code was not accepted ({_problem(exc)}); run smugfs login again and "
                "enter the code SmugMug shows"
            ) from exc
    finally:
        client.close()
    credentials = Credentials(
        api_key, api_secret, str(token["oauth_token"]), str(token["oauth_token_secret"])
    )
    nick, _ = whoami(endpoint, credentials)
    return SavedLogin(endpoint=endpoint, nick=nick, credentials=credentials)


def whoami(endpoint: str, credentials: Credentials) -> tuple[str, str]:
    """The nickname and name of the account the credentials belong to."""
    with httpx.Client(auth=OAuth1Signer(credentials), timeout=TIMEOUT) as http:
        try:
            response = http.get(
                endpoint.rstrip("/") + "/api/v2!authuser",
                headers={"Accept": "application/json"},
            )
        except httpx.TransportError as exc:
            raise LoginError(f"cannot reach {endpoint}: {type(exc).__name__}") from exc
    if response.status_code in (401, 403):
        try:
            message = str(response.json().get("Message") or "")
        except ValueError:
            message = f"HTTP {response.status_code}"
        raise AccessDenied(
            f"the service refused the saved token ({message}); run smugfs login again"
        )
    if response.status_code != 200:
        raise LoginError(f"{endpoint} answered HTTP {response.status_code}")
    try:
        user = response.json()["Response"]["User"]
        return str(user["NickName"]), str(user.get("Name") or "")
    except (ValueError, KeyError, TypeError) as exc:
        raise LoginError(f"{endpoint} sent a reply without the account") from exc
