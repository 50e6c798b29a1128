"""A generated benchmark library: large media, many photos, big albums and a wide tree.

`smugfs emulator --generate SPEC` fills an empty data directory with the library `scripts/bench`
measures, quickly and deterministically: the same spec gives the same names, sizes and MD5s on
every machine. Records go into the store directly, and media bytes are written straight into
the blob directory while their MD5 is taken, so a 4 GiB video never sits in memory. Listing-only
albums share one small blob between all their images.

What the library holds (user `bench`, its root folder):

- `Media/Large/large.mp4`: one video of `large` MiB, served as its MP4 rendition.
- `Media/Video/video.mp4`: one video of `video` MiB.
- `Media/Photos/photo-NNNN.jpg`: `photos` photos of 1-3 MiB (a real JPEG, then filler bytes).
- `Backup/Album/photo-NNNN.jpg`: `backup` more photos like those, an album to copy out whole.
- `Listing/Album/img-NNNNN.jpg`: one album of `album` images.
- `Tree/F-NN/S-NN/A-NN`: `tree` albums of two images each, ten to a folder, ten folders to a
  folder above them.
- `Wide/Part-NN/w-NNNNNN.jpg`: `wide` images in albums of at most 5,000 (the service's cap).

The generator keeps the service's rules (folder depth, album capacity) but not the upload
limits, which are about what a client may send: a video's rendition may be larger than the
largest accepted upload.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import random
from collections.abc import Iterator

from smugfs.emulator import naming, sample_media
from smugfs.emulator.model import ALBUM, FOLDER, Album, Image, Node
from smugfs.emulator.store import ALBUM_CAPACITY, Store

USER = "bench"
MIB = 1024 * 1024
# Filler bytes are slices of one seeded pool: fast to make, and every file still differs from
# the others in its head and in where its slices start.
POOL_BYTES = 8 * MIB
WRITE_CHUNK = 4 * MIB
PHOTO_MIN_BYTES = 1 * MIB
PHOTO_MAX_BYTES = 3 * MIB
TREE_FAN_OUT = 10
TREE_ALBUM_IMAGES = 2
_EPOCH = dt.datetime(2025, 1, 1, 9, 0, 0, tzinfo=dt.UTC)
_SPEC_FIELDS = ("large", "video", "photos", "album", "tree", "wide", "backup")


@dataclasses.dataclass(frozen=True)
class Spec:
    """How big each part of the library is (sizes in MiB, the others in items; 0 leaves the
    part out)."""

    large: int = 1024
    video: int = 4096
    photos: int = 1000
    album: int = 5000
    tree: int = 1000
    wide: int = 50_000
    backup: int = 0
    seed: int = 1

    @classmethod
    def parse(cls, text: str) -> Spec:
        """`large=64,photos=100,...`: the fields named, defaults for the others."""
        values: dict[str, int] = {}
        for part in text.split(","):
            if not part.strip():
                continue
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep or name not in (*_SPEC_FIELDS, "seed"):
                raise ValueError(
                    f"bad spec item {part!r}: use NAME=NUMBER, NAME one of "
                    f"{', '.join((*_SPEC_FIELDS, 'seed'))}"
                )
            try:
                number = int(value)
            except ValueError:
                raise ValueError(f"bad number in spec item {part!r}") from None
            if number < 0:
                raise ValueError(f"spec item {part!r} must not be negative")
            values[name] = number
        return cls(**values)

    def text(self) -> str:
        """The canonical form of the spec (the key of a cached library)."""
        return ",".join(f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self))


class _Writer:
    """Adds the library's records with stable, increasing timestamps and seeded bytes."""

    def __init__(self, store: Store, seed: int) -> None:
        self.store = store
        self.rng = random.Random(seed)
        self.pool = self.rng.randbytes(POOL_BYTES)
        self.clock = _EPOCH
        self.shared: tuple[str, int] | None = None
        # Every image key taken, so that a new one is checked in memory rather than in the
        # state file (a million checks would be most of the time a build takes).
        self.image_keys = set(store.images)

    def tick(self) -> str:
        self.clock += dt.timedelta(seconds=1)
        return naming.iso(self.clock)

    def node(self, parent: Node, type_: str, name: str) -> Node:
        return self.store.create_node(
            parent,
            type_=type_,
            name=name,
            privacy="Unlisted",
            stamp=self.tick(),
            sort_method="SortIndex",
            sort_direction="Ascending",
        )

    def album(self, parent: Node, name: str) -> Album:
        node = self.node(parent, ALBUM, name)
        assert node.album_key is not None
        return self.store.albums[node.album_key]

    def filler(self, size: int) -> Iterator[bytes]:
        """`size` bytes from the pool, in chunks, starting at a seeded offset."""
        offset = self.rng.randrange(POOL_BYTES)
        left = size
        while left > 0:
            piece = self.pool[offset : offset + min(left, WRITE_CHUNK)]
            yield piece
            left -= len(piece)
            offset = (offset + len(piece)) % POOL_BYTES

    def blob(self, head: bytes, size: int) -> tuple[str, int]:
        """Write `head` and filler up to `size` bytes as a blob; its MD5 and size."""
        digest = hashlib.md5()
        tmp = self.store.blob_dir / f"generating-{os.getpid()}.tmp"
        with open(tmp, "wb") as out:
            for chunk in (head, *self.filler(max(0, size - len(head)))):
                digest.update(chunk)
                out.write(chunk)
        md5 = digest.hexdigest()
        os.replace(tmp, self.store.blob_path(md5))
        return md5, max(size, len(head))

    def shared_blob(self) -> tuple[str, int]:
        """One small real JPEG that every listing-only image shows."""
        if self.shared is None:
            data = sample_media.make_jpeg(
                0, width=64, height=48, taken=_EPOCH.replace(tzinfo=None), title="shared"
            )
            self.shared = self.store.put_blob(data)
        return self.shared

    def place(
        self,
        album: Album,
        file_name: str,
        blob: tuple[str, int],
        *,
        video: bool = False,
        size: tuple[int, int] = (64, 48),
    ) -> Image:
        """An image record in `album` for a blob already stored, as an upload would make it."""
        md5, length = blob
        stamp = self.tick()
        image = Image(
            image_key=self.store.new_key(naming.IMAGE_KEY_LENGTH, self.image_keys),
            album_key=album.album_key,
            serial=0,
            file_name=file_name,
            format="MP4" if video else "JPG",
            is_video=video,
            blob=md5,
            size=length,
            md5=md5,
            width=size[0],
            height=size[1],
            date_uploaded=stamp,
            last_updated=stamp,
            upload_key=str(self.rng.randrange(10**9, 10**10)),
            date_time_original=None if video else stamp,
            # The re-encoded rendition is the same bytes here: nothing would read the upload.
            video_blob=md5 if video else None,
            video_size=length if video else 0,
            video_md5=md5 if video else "",
        )
        self.store.images[image.image_key] = image
        self.image_keys.add(image.image_key)
        album.image_keys.append(image.image_key)
        album.last_updated = album.images_last_updated = stamp
        self.store.touch(self.store.album_node(album), stamp)
        return image

    def photos(self, album: Album, count: int) -> None:
        """`count` photos of 1-3 MiB in `album`: a real JPEG head, then filler bytes."""
        for n in range(1, count + 1):
            head = sample_media.make_jpeg(
                n, width=160, height=120, taken=self.clock.replace(tzinfo=None), title=f"{n}"
            )
            size = self.rng.randint(PHOTO_MIN_BYTES, PHOTO_MAX_BYTES)
            self.place(album, f"photo-{n:04d}.jpg", self.blob(head, size), size=(160, 120))


def build(store: Store, spec: Spec) -> bool:
    """Fill the store with the library of `spec`; False (and nothing done) if `bench` exists."""
    if USER in store.users:
        return False
    w = _Writer(store, spec.seed)
    user = store.create_user(USER, "Bench Mark")
    root = store.nodes[user.root_node_id]

    if spec.large or spec.video or spec.photos:
        media = w.node(root, FOLDER, "Media")
        mp4_head = sample_media.sample_video()
        for name, mib in (("Large", spec.large), ("Video", spec.video)):
            if mib:
                album = w.album(media, name)
                blob = w.blob(mp4_head, mib * MIB)
                w.place(album, f"{name.lower()}.mp4", blob, video=True, size=(1920, 1080))
        if spec.photos:
            w.photos(w.album(media, "Photos"), spec.photos)

    if spec.album:
        listing = w.node(root, FOLDER, "Listing")
        album = w.album(listing, "Album")
        for n in range(1, min(spec.album, ALBUM_CAPACITY) + 1):
            w.place(album, f"img-{n:05d}.jpg", w.shared_blob())

    if spec.tree:
        tree = w.node(root, FOLDER, "Tree")
        per_top = TREE_FAN_OUT * TREE_FAN_OUT
        for top in range(-(-spec.tree // per_top)):
            folder = w.node(tree, FOLDER, f"F-{top:02d}")
            for sub in range(TREE_FAN_OUT):
                first = top * per_top + sub * TREE_FAN_OUT
                if first >= spec.tree:
                    break
                subfolder = w.node(folder, FOLDER, f"S-{sub:02d}")
                for n in range(min(TREE_FAN_OUT, spec.tree - first)):
                    album = w.album(subfolder, f"A-{n:02d}")
                    for m in range(1, TREE_ALBUM_IMAGES + 1):
                        w.place(album, f"t-{m}.jpg", w.shared_blob())

    if spec.wide:
        wide = w.node(root, FOLDER, "Wide")
        for part in range(-(-spec.wide // ALBUM_CAPACITY)):
            album = w.album(wide, f"Part-{part:02d}")
            first = part * ALBUM_CAPACITY
            for n in range(first + 1, min(spec.wide, first + ALBUM_CAPACITY) + 1):
                w.place(album, f"w-{n:06d}.jpg", w.shared_blob())
            # An album at a time into the state file, so that no one write holds a million.
            store.save()

    if spec.backup:
        # Made last, so that the parts above keep their bytes whatever this part's size.
        w.photos(w.album(w.node(root, FOLDER, "Backup"), "Album"), spec.backup)
    store.dirty = True
    return True
