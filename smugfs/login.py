"""`smugfs login`: SmugMug's OAuth 1.0a flow, as a person goes through it.

1. A request token, asked for with `oauth_callback=oob`.
2. The authorize URL with `Access=Full&Permissions=Modify`, which the user opens; SmugMug shows
   a six-digit code.
3. The code typed back, exchanged for an access token, which `!authuser` confirms.

The requests are the HTTP layer's (`api/oauth.py`); this module says what each failure means
to the user, in one line that says what to do. The key, secret and tokens never appear in them.
"""

from __future__ import annotations

from collections.abc import Callable

from smugfs.api import oauth
from smugfs.config import Credentials
from smugfs.errors import ConfigurationError, Offline, ProtocolError, SmugfsError
from smugfs.token_store import SavedLogin


class LoginError(SmugfsError):
    """The login could not be completed (the message says why and what to do)."""


def _step(step: Callable[[], tuple[str, str]], refused: str) -> tuple[str, str]:
    """A token from one step of the flow; a refusal is `refused` with the service's reason."""
    try:
        return step()
    except Offline as exc:
        raise LoginError(str(exc)) from exc
    except oauth.OAuthRefused as exc:
        raise LoginError(refused.format(exc.problem)) from exc


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
    request = _step(
        lambda: oauth.request_token(endpoint, api_key, api_secret),
        "the service refused the API key and secret ({}); "
        "check them in your SmugMug account settings",
    )
    show(oauth.authorize_url(endpoint, request[0]))
    code = ask_code().strip()
    if not code:
        raise LoginError("no code was entered; run smugfs login again")
    token, secret = _step(
        lambda: oauth.access_token(endpoint, api_key, api_secret, request, code),
        "the code was not accepted ({}); run smugfs login again and enter the code SmugMug shows",
    )
    credentials = Credentials(api_key, api_secret, token, secret)
    nick, _ = whoami(endpoint, credentials)
    return SavedLogin(endpoint=endpoint, nick=nick, credentials=credentials)


def whoami(endpoint: str, credentials: Credentials) -> tuple[str, str]:
    """The nickname and name of the account the credentials belong to."""
    try:
        return oauth.whoami(endpoint, credentials)
    except (Offline, ProtocolError) as exc:
        raise LoginError(str(exc)) from exc
