"""The built-in sample library that `smugfs demo` and `smugfs emulator --sample` serve.

A photographer `demo` with a folder tree a few levels deep: albums of real, viewable JPEG and PNG
photos carrying EXIF dates, a short MP4, an album of 1,200 scans, an album of a dozen
camera-sized photos (what a file manager shows thumbnails of), an empty album, an album where
two photos share a file name, an album whose name contains `/`, a private album, a page (which a
filesystem leaves out), a few large originals and two album templates. A second user, `alice`,
has public galleries to browse with an API key only. Everything is generated deterministically,
so the library is the same on every machine.
"""

from __future__ import annotations

import datetime as dt

from smugfs.emulator import naming, sample_media
from smugfs.emulator.model import ALBUM, FOLDER, PAGE, Album, Node
from smugfs.emulator.store import Store

DEMO_USER = "demo"
SECOND_USER = "alice"
BIG_ALBUM_SIZE = 1200
# An album of camera-sized photos (3000 x 2000, about 3 MB each): what a file manager shows.
CAMERA_ALBUM = "Harbour at Dawn"
CAMERA_ALBUM_SIZE = 12
_EPOCH = dt.datetime(2024, 5, 1, 9, 0, 0, tzinfo=dt.UTC)


class _Builder:
    """Adds nodes and photos with stable, increasing service timestamps."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.clock = _EPOCH
        self.index = 0

    def tick(self, minutes: int = 7) -> str:
        self.clock += dt.timedelta(minutes=minutes)
        return naming.iso(self.clock)

    def node(self, parent: Node, type_: str, name: str, privacy: str = "Public") -> Node:
        return self.store.create_node(
            parent,
            type_=type_,
            name=name,
            privacy=privacy,
            stamp=self.tick(),
            sort_method="SortIndex",
            sort_direction="Ascending",
        )

    def album(self, parent: Node, name: str, privacy: str = "Public") -> Album:
        node = self.node(parent, ALBUM, name, privacy)
        assert node.album_key is not None
        return self.store.albums[node.album_key]

    def photos(
        self,
        album: Album,
        stem: str,
        count: int,
        *,
        taken: dt.datetime,
        width: int = 400,
        height: int = 300,
        first: int = 1,
    ) -> None:
        for n in range(first, first + count):
            self.photo(
                album,
                f"{stem}{n:04d}.jpg",
                taken + dt.timedelta(minutes=3 * n),
                width=width,
                height=height,
                title=f"{stem}{n:04d}",
            )

    def photo(
        self,
        album: Album,
        file_name: str,
        taken: dt.datetime,
        *,
        width: int = 400,
        height: int = 300,
        title: str = "",
        caption: str = "",
    ) -> None:
        self.index += 1
        data = sample_media.make_jpeg(
            self.index,
            width=width,
            height=height,
            taken=taken.replace(tzinfo=None),
            title=title or file_name,
        )
        self.store.add_image(
            album,
            data,
            file_name=file_name,
            fields={"title": title, "caption": caption},
            stamp=self.tick(1),
        )


def build(store: Store) -> None:
    """Fill an empty store with the sample library (does nothing if `demo` exists)."""
    if DEMO_USER in store.users:
        return
    b = _Builder(store)
    user = store.create_user(DEMO_USER, "Demo Photographer", password="demo")
    root = store.nodes[user.root_node_id]

    travel = b.node(root, FOLDER, "Travel")
    y2024 = b.node(travel, FOLDER, "2024")
    lisbon = b.album(y2024, "Lisbon")
    b.photos(lisbon, "IMG_", 24, taken=dt.datetime(2024, 3, 14, 10, 0))
    iceland = b.album(y2024, "Iceland & the Ring Road")
    b.photos(iceland, "DSC_", 12, taken=dt.datetime(2024, 7, 2, 8, 30), width=320, height=240)
    b.index += 1
    store.add_image(
        iceland,
        sample_media.make_png(b.index, width=400, height=300, title="Panorama"),
        file_name="panorama.png",
        fields={"title": "Panorama"},
        stamp=b.tick(),
    )
    store.add_image(
        iceland,
        sample_media.sample_video(),
        file_name="waterfall.mp4",
        fields={"title": "Waterfall"},
        stamp=b.tick(),
    )
    y2025 = b.node(travel, FOLDER, "2025")
    kyoto = b.album(y2025, "Kyoto")
    b.photos(kyoto, "P", 30, taken=dt.datetime(2025, 4, 5, 7, 45))
    harbour = b.album(y2025, CAMERA_ALBUM)
    for n in range(1, CAMERA_ALBUM_SIZE + 1):
        b.index += 1
        # Every fourth one held upright, as cameras record portraits.
        width, height = (2000, 3000) if n % 4 == 0 else (3000, 2000)
        title = f"Harbour {n:02d}"
        data = sample_media.make_camera_jpeg(
            b.index,
            width=width,
            height=height,
            taken=dt.datetime(2025, 6, 21, 5, 0) + dt.timedelta(minutes=4 * n),
            title=title,
        )
        store.add_image(
            harbour, data, file_name=f"DSC{n:05d}.JPG", fields={"title": title}, stamp=b.tick(1)
        )

    family = b.node(root, FOLDER, "Family")
    birthdays = b.node(family, FOLDER, "Birthdays")
    y2023 = b.node(birthdays, FOLDER, "2023")
    party = b.album(y2023, "Emma turns 7")
    b.photos(party, "party-", 8, taken=dt.datetime(2023, 9, 9, 15, 0))

    archive = b.node(root, FOLDER, "Archive")
    scans = b.album(archive, "Scans 1990-2010")
    b.photos(
        scans, "scan-", BIG_ALBUM_SIZE, taken=dt.datetime(1990, 1, 1, 12, 0), width=320, height=240
    )

    b.album(root, "Empty Album")

    duplicates = b.album(root, "Camera Dumps")
    b.photo(duplicates, "IMG_0001.JPG", dt.datetime(2022, 6, 1, 9, 0), title="first camera")
    b.photo(duplicates, "IMG_0001.JPG", dt.datetime(2023, 6, 1, 9, 0), title="second camera")
    b.photo(duplicates, "IMG_0002.JPG", dt.datetime(2023, 6, 1, 9, 5))

    lax = b.album(root, "5/6 Lax vs Scarsdale")
    b.photos(lax, "game-", 4, taken=dt.datetime(2024, 5, 6, 17, 0))

    private = b.album(root, "Private Moments", privacy="Private")
    b.photos(private, "private-", 3, taken=dt.datetime(2024, 2, 14, 20, 0))

    large = b.album(root, "Large Originals")
    for n in range(1, 4):
        b.index += 1
        data = sample_media.make_large_jpeg(
            b.index,
            taken=dt.datetime(2024, 8, n, 12, 0),
            title=f"Large {n}",
            target_bytes=3 * 1024 * 1024,
        )
        store.add_image(
            large, data, file_name=f"large-{n}.jpg", fields={"title": f"Large {n}"}, stamp=b.tick()
        )

    b.node(root, PAGE, "About Me")

    other = store.create_user(SECOND_USER, "Alice Public", password="alice")
    other_root = store.nodes[other.root_node_id]
    street = b.album(other_root, "Street")
    b.photos(street, "street-", 6, taken=dt.datetime(2024, 10, 1, 18, 0))
    hidden = b.album(other_root, "Drafts", privacy="Private")
    b.photos(hidden, "draft-", 2, taken=dt.datetime(2024, 10, 2, 18, 0))

    # Album templates of the demo user (alice has none: her list is the empty one).
    store.create_album_template(
        DEMO_USER,
        "Client Proofing",
        privacy="Unlisted",
        allow_downloads=False,
        sort_method="Filename",
    )
    store.create_album_template(DEMO_USER, "Family Events", sort_method="Date Taken")
