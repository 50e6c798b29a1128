"""How each record looks on the wire: users, nodes and albums with their `Uris` maps (images in
`image_views.py`), as `View` renders them for one viewer.

Every method returns the JSON object the real service sends for that record, shaped after the
recorded responses (field names, `Uris` entries with `Locator`/`LocatorType` for navigable links
and without them for action links, owner-only fields left out of public views).
"""

from __future__ import annotations

from typing import Any

from smugfs.emulator.endpoints import (
    E_ALBUM,
    E_ALBUM_IMAGES,
    E_CHILDREN,
    E_COLLECT_IMAGES,
    E_DELETE_IMAGES,
    E_FOLDER_BY_ID,
    E_MOVE_IMAGES,
    E_MOVE_NODES,
    E_NODE,
    E_PARENT,
    E_PARENTS,
    E_PATH_LOOKUP,
    E_PROFILE,
    E_TEMPLATES,
    E_USER,
    E_USER_ALBUMS,
)
from smugfs.emulator.image_views import ImageViews
from smugfs.emulator.links import (
    action,
    album_uri,
    folder_id_uri,
    folder_link,
    link,
    node_uri,
    parent_folders_link,
    user_uri,
)
from smugfs.emulator.model import ALBUM, FOLDER, Album, Node, User
from smugfs.emulator.viewer import html


class View(ImageViews):
    """Every record as the viewer sees it: users, nodes, albums here, images in `ImageViews`."""

    # ------------------------------------------------------------------ users

    def user(self, user: User) -> dict[str, Any]:
        """A user record (`user/{nick}`, `!authuser`)."""
        nick = user.nick
        base = user_uri(nick)
        out: dict[str, Any] = {
            "Domain": "",
            "DomainOnly": "",
            "FriendsView": False,
            "Name": user.name,
            "NickName": nick,
            "QuickShare": False,
            "RefTag": "",
            "SortBy": "LastUpdated",
            "ViewPassHint": "",
            "ViewPassword": "",
            "Uri": base,
            "UriDescription": E_USER.description,
            "WebUri": self.web(f"/{nick}"),
            "ResponseLevel": self.level(nick),
        }
        if self.owns(nick):
            out.update(
                {
                    "AccountStatus": "Active",
                    "FirstName": user.first_name,
                    "LastName": user.last_name,
                    "ImageCount": self.store.image_count(nick),
                    "IsTrial": False,
                    "Plan": "Power",
                }
            )
        uris: dict[str, Any] = {
            "Node": link(node_uri(user.root_node_id), E_NODE),
            "UserAlbums": link(f"{base}!albums", E_USER_ALBUMS),
            "UrlPathLookup": link(f"{base}!urlpathlookup", E_PATH_LOOKUP),
            "UserProfile": link(f"{base}!profile", E_PROFILE),
            "Folder": folder_link(self.store, self.store.nodes[user.root_node_id]),
        }
        if self.owns(nick):
            uris["UserAlbumTemplates"] = link(f"{base}!albumtemplates", E_TEMPLATES)
        out["Uris"] = uris
        return out

    def profile(self, user: User) -> dict[str, Any]:
        """A user's profile (`!profile`)."""
        return {
            "DisplayName": user.name,
            "FirstName": user.first_name,
            "LastName": user.last_name,
            "BioText": "",
            "Uri": f"{user_uri(user.nick)}!profile",
            "UriDescription": E_PROFILE.description,
            "Uris": {"User": link(user_uri(user.nick), E_USER)},
        }

    # ------------------------------------------------------------------ nodes

    def node(self, node: Node) -> dict[str, Any]:
        """A node record (`node/{id}`, `!children` items, `!parents` items)."""
        store = self.store
        uri = node_uri(node.node_id)
        has_children = node.type == FOLDER and bool(node.children)
        out: dict[str, Any] = {
            "DateAdded": node.date_added,
            "DateModified": node.date_modified,
            "Description": node.description,
            "EffectiveSecurityType": node.security_type,
            "FormattedValues": {
                "Name": {"html": html(node.name)},
                "Description": {"html": html(node.description), "text": node.description},
            },
            "HasChildren": has_children,
            "IsRoot": node.parent_id is None,
            "Keywords": list(node.keywords),
            "Name": node.name,
            "NodeID": node.node_id,
            "PasswordHint": node.password_hint,
            "SecurityType": node.security_type,
            "ShowCoverImage": True,
            "SortDirection": node.sort_direction,
            "SortMethod": node.sort_method,
            "Type": node.type,
            "UrlName": node.url_name,
            "UrlPath": store.url_path(node),
            "Uri": uri,
            "WebUri": self.web(f"/{node.owner}" + store.url_path(node).rstrip("/")),
            "UriDescription": E_NODE.description,
            "ResponseLevel": self.level(node.owner),
        }
        if node.parent_id is not None:
            out["SortIndex"] = node.sort_index
        if self.owns(node.owner):
            out.update(
                {
                    "Privacy": node.privacy,
                    "EffectivePrivacy": store.effective_privacy(node),
                    "SmugSearchable": "Inherit from User",
                    "WorldSearchable": "Inherit from User",
                    "HideOwner": False,
                }
            )
        uris: dict[str, Any] = {}
        if node.type == FOLDER:
            uris["FolderByID"] = link(folder_id_uri(node.node_id), E_FOLDER_BY_ID)
            uris["ChildNodes"] = link(f"{uri}!children", E_CHILDREN)
            if self.owns(node.owner):
                uris["MoveNodes"] = action(f"{uri}!movenodes", E_MOVE_NODES)
        if node.type == ALBUM and node.album_key:
            uris["Album"] = link(album_uri(node.album_key), E_ALBUM)
        if node.parent_id is not None:
            uris["ParentNode"] = link(f"{uri}!parent", E_PARENT)
        uris["ParentNodes"] = link(f"{uri}!parents", E_PARENTS)
        uris["User"] = link(user_uri(node.owner), E_USER)
        out["Uris"] = uris
        return out

    # ------------------------------------------------------------------ albums

    def album(self, album: Album) -> dict[str, Any]:
        """An album record (`album/{key}`, `!albums` items)."""
        store = self.store
        node = store.album_node(album)
        uri = album_uri(album.album_key)
        out: dict[str, Any] = {
            "AlbumKey": album.album_key,
            "AllowDownloads": album.allow_downloads,
            "CanShare": True,
            "Description": node.description,
            "External": True,
            "HasDownloadPassword": False,
            "ImageCount": len(album.image_keys),
            "ImagesLastUpdated": album.images_last_updated,
            "Keywords": "; ".join(node.keywords),
            "LastUpdated": album.last_updated,
            "Name": node.name,
            "NiceName": node.url_name,
            "NodeID": node.node_id,
            "PasswordHint": node.password_hint,
            "Protected": False,
            "SecurityType": node.security_type,
            "SortDirection": album.sort_direction,
            "SortMethod": album.sort_method,
            "Title": node.name,
            "UrlName": node.url_name,
            "UrlPath": store.url_path(node),
            "Uri": uri,
            "UriDescription": E_ALBUM.description,
            "WebUri": self.web(f"/{node.owner}" + store.url_path(node)),
            "ResponseLevel": self.level(node.owner),
        }
        if self.owns(node.owner):
            sizes = store.images.total_size(album.image_keys, album.album_key)
            out.update(
                {
                    # The album reports the privacy that applies, not its own setting.
                    "Privacy": store.effective_privacy(node),
                    "OriginalSizes": sizes,
                    "TotalSizes": sizes,
                }
            )
        uris: dict[str, Any] = {
            "AlbumImages": link(f"{uri}!images", E_ALBUM_IMAGES),
            "Node": link(node_uri(node.node_id), E_NODE),
            "User": link(user_uri(node.owner), E_USER),
        }
        if node.parent_id is not None:
            parent = store.nodes[node.parent_id]
            uris["Folder"] = folder_link(store, parent)
            uris["ParentFolders"] = parent_folders_link(store, parent)
        if self.owns(node.owner):
            uris["MoveAlbumImages"] = action(f"{uri}!moveimages", E_MOVE_IMAGES)
            uris["CollectImages"] = action(f"{uri}!collectimages", E_COLLECT_IMAGES)
            uris["DeleteAlbumImages"] = action(f"{uri}!deleteimages", E_DELETE_IMAGES)
        out["Uris"] = uris
        return out
