"""Album templates: a user's presets of album settings (`Uris.UserAlbumTemplates` of the user).

- `user/{nick}!albumtemplates`: the owner's templates, a paged list under `AlbumTemplate` (the
  key left out when there are none, as on every empty list); POST adds one (201).
- `albumtemplate/{key}`: one template.

Creating an album with `AlbumTemplateUri` starts from the template's settings
(`album_templates.py`). Only the owner sees their templates: anyone else gets 401, as for other
owner tools.
"""

from __future__ import annotations

import re

from smugfs.emulator.album_templates import render, template_uri
from smugfs.emulator.api import Api
from smugfs.emulator.endpoints import E_TEMPLATE, E_TEMPLATE_CREATED, E_TEMPLATES
from smugfs.emulator.handling import Call, Outcome, RouteSpec, created
from smugfs.emulator.store import ServiceError, check_node_fields, checked_name, truthy


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
        name = checked_name(body.get("Name"))
        fields = call.store.check_album_fields(
            {k: body[k] for k in ("SortMethod", "SortDirection") if k in body}
        )
        privacy = str(
            body.get("Privacy", "Public" if truthy(body.get("Public", True)) else "Unlisted")
        )
        check_node_fields({"Privacy": privacy})
        template = call.store.create_album_template(
            nick,
            name,
            privacy=privacy,
            allow_downloads=truthy(body.get("AllowDownloads", True)),
            sort_method=str(fields.get("SortMethod", "Position")),
            sort_direction=str(fields.get("SortDirection", "Ascending")),
            password=str(body.get("Password", "")),
            password_hint=str(body.get("PasswordHint", "")),
        )
        return created(render(template), E_TEMPLATE_CREATED, template_uri(template))
