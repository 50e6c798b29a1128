"""Album templates: a user's presets of album settings (`Uris.UserAlbumTemplates` of the user).

- `user/{nick}!albumtemplates`: the owner's templates, a paged list under `AlbumTemplate` (the
  key left out when there are none, as on every empty list); POST adds one (201).
- `albumtemplate/{key}`: one template.

Creating an album with `AlbumTemplateUri` (see `folders.py`) starts from the template's
settings. Only the owner sees their templates: anyone else gets 401, as for other owner tools.
"""

from __future__ import annotations

import re
from typing import Any

from smugfs.emulator.api import Api, Call, Outcome, RouteSpec
from smugfs.emulator.model import AlbumTemplate
from smugfs.emulator.store import (
    PRIVACY_VALUES,
    ServiceError,
    Store,
    truthy,
)
from smugfs.emulator.views import API, link, user_uri
from smugfs.emulator.wire import Endpoint

E_TEMPLATES = Endpoint(
    "UserAlbumTemplates",
    "AlbumTemplate",
    "Objects",
    "User's album templates",
    ("GET", "POST"),
    permissions={"POST": "Modify"},
)
E_TEMPLATE = Endpoint("AlbumTemplate", "AlbumTemplate", "Object", "Album template")
E_TEMPLATE_CREATED = Endpoint(
    "AlbumTemplate",
    "AlbumTemplate",
    "Object",
    "Album template",
    ("POST",),
    permissions={"POST": "Modify"},
)
TEMPLATE_URI = re.compile(r"(?:https?://[^/]+)?/api/v2/albumtemplate/(?P<key>[^/!?]+)")


def routes(api: Api) -> list[RouteSpec]:
    """The album template endpoints for `Api`'s router."""
    endpoints = TemplateEndpoints(api)
    return [
        (
            r"/user/(?P<nick>[^/!]+)!albumtemplates",
            E_TEMPLATES,
            {"GET": endpoints.list, "POST": endpoints.create},
        ),
        (r"/albumtemplate/(?P<key>[^/!]+)", E_TEMPLATE, {"GET": endpoints.one}),
    ]


class TemplateEndpoints:
    """The handlers of the album template endpoints."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def list(self, call: Call, match: re.Match[str]) -> Outcome:
        """The owner's templates, oldest first."""
        nick = self.api._user(match["nick"]).nick
        self.api._require(call, nick, "Read")
        found = [t for t in call.store.album_templates.values() if t.owner == nick]
        return Outcome(items=found, render=render)

    def one(self, call: Call, match: re.Match[str]) -> Outcome:
        """One template (404 for an unknown key or someone else's)."""
        template = call.store.album_templates.get(match["key"])
        viewer = call.principal.viewer if call.principal else None
        if template is None or template.owner != viewer:
            raise ServiceError(404, "Not Found")
        return Outcome(obj=render(template))

    def create(self, call: Call, match: re.Match[str]) -> Outcome:
        """POST: a new template from `Name` and the settings it presets."""
        nick = self.api._user(match["nick"]).nick
        self.api._require(call, nick, "Modify")
        body = call.body
        name = body.get("Name")
        if not isinstance(name, str) or not name.strip() or len(name) > 254:
            raise ServiceError(400, "Name must be 1 to 254 characters")
        fields = call.store.check_album_fields(
            {k: body[k] for k in ("SortMethod", "SortDirection") if k in body}
        )
        privacy = str(
            body.get("Privacy", "Public" if truthy(body.get("Public", True)) else "Unlisted")
        )
        if privacy not in PRIVACY_VALUES:
            raise ServiceError(400, f"Privacy must be one of {', '.join(PRIVACY_VALUES)}")
        template = call.store.create_album_template(
            nick,
            name.strip(),
            privacy=privacy,
            allow_downloads=truthy(body.get("AllowDownloads", True)),
            sort_method=str(fields.get("SortMethod", "Position")),
            sort_direction=str(fields.get("SortDirection", "Ascending")),
            password=str(body.get("Password", "")),
            password_hint=str(body.get("PasswordHint", "")),
        )
        return Outcome(
            status=201,
            obj=render(template),
            with_options=True,
            answer_as=E_TEMPLATE_CREATED,
            uri=template_uri(template),
        )


def template_uri(template: AlbumTemplate) -> str:
    """The API URI of a template."""
    return f"{API}/albumtemplate/{template.key}"


def by_uri(store: Store, uri: str, owner: str) -> AlbumTemplate:
    """The template an `AlbumTemplateUri` names; 400 unless it is one of `owner`'s."""
    found = TEMPLATE_URI.fullmatch(uri.strip())
    template = store.album_templates.get(found["key"]) if found else None
    if template is None or template.owner != owner:
        raise ServiceError(400, f"Invalid AlbumTemplateUri {uri}")
    return template


def album_settings(template: AlbumTemplate) -> dict[str, Any]:
    """The album fields a template presets, as a create request would send them."""
    settings: dict[str, Any] = {
        "Privacy": template.privacy,
        "AllowDownloads": template.allow_downloads,
        "SortMethod": template.sort_method,
        "SortDirection": template.sort_direction,
    }
    if template.password:
        settings["Password"] = template.password
        settings["PasswordHint"] = template.password_hint
    return settings


def render(template: AlbumTemplate) -> dict[str, Any]:
    """A template record: the album settings it presets, under their album field names, and
    the fields a template has that this service keeps at their defaults."""
    return {
        "Name": template.name,
        "AllowDownloads": template.allow_downloads,
        "Backprinting": "",
        "BoutiquePackaging": "Inherit from User",
        "CanRank": True,
        "Clean": False,
        "Comments": True,
        "EXIF": True,
        "External": True,
        "FamilyEdit": False,
        "Filenames": False,
        "FriendEdit": False,
        "Geography": True,
        "Header": "SmugMug",
        "HideOwner": False,
        "InterceptShipping": "Inherit from User",
        "LargestSize": "Original",
        "PackagingBranding": True,
        "Password": template.password,
        "PasswordHint": template.password_hint,
        "Printable": True,
        "Privacy": template.privacy,
        "ProofDays": 0,
        "Protected": False,
        "Public": template.privacy == "Public",
        "Share": True,
        "SmugSearchable": "Inherit from User",
        "SortDirection": template.sort_direction,
        "SortMethod": template.sort_method,
        "SquareThumbs": True,
        "Watermark": False,
        "WorldSearchable": "Inherit from User",
        "Uri": template_uri(template),
        "UriDescription": "Album template",
        "Uris": {
            "User": link(user_uri(template.owner), "User", "Object", "User By Nickname", "User")
        },
    }
