"""Changing a SmugMug account through a real FUSE mount with real tools.

Each test mounts a fresh emulator account with `smugfs mount`, changes it with `mkdir`, `mv`,
`rmdir`, `rm`, `cp`, `rsync`, `truncate`, `chmod` and `touch`, and then checks what the service
holds through the emulator's own HTTP API (signed httpx, never the smugfs client): node types
and parents, image keys, file names, captions, MD5s and bytes, and the emulator's request
counters. A test that expects no refusal also expects a mount log without warnings or errors.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from smugfs.testing.account import ALBUM, FOLDER, Account, requests_to, uploads
from smugfs.testing.commands import fails, md5sum, ok
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import md5, photo, picture, seeded_bytes, write
from smugfs.testing.mounts import Mount, mounted

pytestmark = pytest.mark.fuse


@pytest.fixture
def mount(emulator: Emulator, tmp_path: Path) -> Iterator[Mount]:
    """The fresh emulator's account mounted; its log must stay free of warnings."""
    with mounted(emulator, tmp_path / "mount") as mount:
        yield mount
        assert mount.problems() == []


# ---------------------------------------------------------------------------- directories


def test_mkdir_p_makes_folders_down_to_an_album(account: Account, mount: Mount) -> None:
    empty_uri = account.create("Family")
    ok("mkdir", "-p", mount.path / "Travel" / "2026" / "Lisbon")
    ok("mkdir", "-p", mount.path / "A" / "B" / "C")
    assert account.node("Travel")["Type"] == FOLDER
    assert account.node("Travel", "2026")["Type"] == FOLDER
    assert account.node("Travel", "2026", "Lisbon")["Type"] == ALBUM
    assert account.node("A")["Type"] == FOLDER
    assert account.node("A", "B")["Type"] == FOLDER
    assert account.node("A", "B", "C")["Type"] == ALBUM
    # An empty album given a directory becomes a folder of the same name.
    ok("mkdir", mount.path / "Family" / "Birthdays")
    assert account.node("Family")["Type"] == FOLDER
    assert account.node("Family", "Birthdays")["Type"] == ALBUM
    assert account.status(empty_uri) == 404
    assert sorted(c["Name"] for c in account.children()) == ["A", "Family", "Travel"]
    # A new directory beside an album is an album too.
    ok("mkdir", mount.path / "Travel" / "2027")
    assert account.node("Travel", "2027")["Type"] == ALBUM
    assert sorted(os.listdir(mount.path / "Travel")) == ["2026", "2027"]
    found = ok("find", mount.path, "-mindepth", "1", "-type", "d", "-printf", "%P\\n").split()
    assert sorted(found) == [
        "A",
        "A/B",
        "A/B/C",
        "Family",
        "Family/Birthdays",
        "Travel",
        "Travel/2026",
        "Travel/2026/Lisbon",
        "Travel/2027",
    ]


def test_mkdir_in_an_album_with_photos_is_eperm_even_when_the_mount_saw_it_empty(
    emulator: Emulator, account: Account, mount: Mount
) -> None:
    album_uri = account.create("Lisbon")
    late_uri = account.create("Porto")
    account.upload(album_uri, "tram.jpg", photo(1))
    message = fails("mkdir", mount.path / "Lisbon" / "Day 1")
    assert "Operation not permitted" in message
    # An album the mount listed while it was empty, which got a photo since.
    assert os.listdir(mount.path / "Porto") == []
    account.upload(late_uri, "bridge.jpg", photo(2))
    message = fails("mkdir", mount.path / "Porto" / "Day 1")
    assert "Operation not permitted" in message
    for name, uri in (("Lisbon", album_uri), ("Porto", late_uri)):
        assert account.node(name)["Type"] == ALBUM
        assert account.album_uri(name) == uri
        assert len(account.images(uri)) == 1
    assert sorted(c["Name"] for c in account.children()) == ["Lisbon", "Porto"]
    assert requests_to(emulator, "DELETE /api/v2/node/{key}") == 0


def test_a_photo_copied_into_a_folder_is_eperm(
    emulator: Emulator, account: Account, mount: Mount, tmp_path: Path
) -> None:
    ok("mkdir", "-p", mount.path / "Travel" / "Lisbon")
    source = write(tmp_path / "tram.jpg", photo(3))
    emulator.reset_stats()
    message = fails("cp", source, mount.path / "Travel")
    assert "Operation not permitted" in message
    assert "tram.jpg" not in os.listdir(mount.path / "Travel")
    assert uploads(emulator) == 0
    travel = account.node("Travel")
    assert [c["Name"] for c in account.children(travel["Uri"])] == ["Lisbon"]
    assert account.images(account.album_uri("Travel", "Lisbon")) == []


def test_folders_nest_at_most_five_deep(account: Account, mount: Mount) -> None:
    levels = [f"L{n}" for n in range(1, 8)]
    message = fails("mkdir", "-p", mount.path.joinpath(*levels))
    assert "Too many links" in message
    for depth in range(1, 6):
        assert account.node(*levels[:depth])["Type"] == FOLDER
    # The sixth level is an album inside the fifth folder; it was not turned into a folder.
    assert account.node(*levels[:6])["Type"] == ALBUM
    assert account.find(*levels) is None
    assert (mount.path.joinpath(*levels[:6])).is_dir()
    assert os.listdir(mount.path.joinpath(*levels[:6])) == []


def test_desktop_bookkeeping_directories_never_reach_the_service(
    emulator: Emulator, account: Account, mount: Mount
) -> None:
    album_uri = account.create("Album")
    os.listdir(mount.path / "Album")
    emulator.reset_stats()
    for name in (".Trash-1000", ".thumbnails"):
        assert "Operation not permitted" in fails("mkdir", mount.path / name)
        assert "Operation not permitted" in fails("mkdir", mount.path / "Album" / name)
        assert name not in os.listdir(mount.path)
    stats = emulator.stats()["by_endpoint"]
    assert not [e for e in stats if not e.startswith("GET ")], stats
    assert [c["Name"] for c in account.children()] == ["Album"]
    assert account.node("Album")["Type"] == ALBUM
    assert account.album_uri("Album") == album_uri


def test_rmdir_of_a_non_empty_directory_is_enotempty_and_deletes_nothing(
    emulator: Emulator, account: Account, mount: Mount
) -> None:
    full_uri = account.create("Full")
    kept = [account.upload(full_uri, f"p{n}.jpg", photo(10 + n)) for n in range(2)]
    late_uri = account.create("Late")
    ok("mkdir", "-p", mount.path / "Outer" / "Inner")
    # An album the mount saw empty that got a photo since.
    assert os.listdir(mount.path / "Late") == []
    account.upload(late_uri, "late.jpg", photo(12))
    emulator.reset_stats()
    for name in ("Full", "Outer", "Late"):
        assert "Directory not empty" in fails("rmdir", mount.path / name)
    assert requests_to(emulator, "DELETE /api/v2/node/{key}") == 0
    assert len(account.images(full_uri)) == 2
    assert all(account.status(image["ImageUri"]) == 200 for image in kept)
    assert len(account.images(late_uri)) == 1
    assert account.node("Outer", "Inner")["Type"] == ALBUM
    # Empty ones go.
    ok("rmdir", mount.path / "Outer" / "Inner")
    ok("rmdir", mount.path / "Outer")
    assert sorted(c["Name"] for c in account.children()) == ["Full", "Late"]
    assert sorted(os.listdir(mount.path)) == ["Full", "Late"]


def test_rm_r_deletes_the_photos_then_the_album(
    emulator: Emulator, account: Account, mount: Mount, tmp_path: Path
) -> None:
    album_uri = account.create("Trip")
    images = [account.upload(album_uri, f"p{n}.jpg", photo(20 + n)) for n in range(3)]
    ok("mkdir", "-p", mount.path / "Old" / "Years" / "1999")
    ok("cp", write(tmp_path / "scan.jpg", photo(24)), mount.path / "Old" / "Years" / "1999")
    scan = account.images(account.album_uri("Old", "Years", "1999"))[0]
    emulator.reset_stats()
    ok("rm", "-r", mount.path / "Trip", mount.path / "Old")
    assert account.children() == []
    assert os.listdir(mount.path) == []
    for image in images:
        assert account.status(image["ImageUri"]) == 404
    assert account.status(scan["Uris"]["Image"]["Uri"]) == 404
    assert requests_to(emulator, "DELETE /api/v2/album/{key}/image/{key}") == 4
    assert requests_to(emulator, "DELETE /api/v2/node/{key}") == 4


def test_mv_moves_albums_and_folders_with_movenodes_and_renames_them(
    emulator: Emulator, account: Account, mount: Mount
) -> None:
    lisbon_uri = account.create("Lisbon")
    account.upload(lisbon_uri, "tram.jpg", photo(30))
    tram_key = account.images(lisbon_uri)[0]["ImageKey"]
    ok("mkdir", "-p", mount.path / "Travel" / "2026")
    ok("mkdir", "-p", mount.path / "Archive" / "Scans")
    lisbon_id = account.node("Lisbon")["NodeID"]
    travel_id = account.node("Travel")["NodeID"]
    emulator.reset_stats()

    ok("mv", mount.path / "Lisbon", mount.path / "Travel")
    assert requests_to(emulator, "POST /api/v2/node/{key}!movenodes") == 1
    moved = account.node("Travel", "Lisbon")
    assert moved["NodeID"] == lisbon_id
    assert account.parents(moved)[0] == "Travel"
    assert [i["ImageKey"] for i in account.images(lisbon_uri)] == [tram_key]
    assert sorted(os.listdir(mount.path)) == ["Archive", "Travel"]
    assert sorted(os.listdir(mount.path / "Travel")) == ["2026", "Lisbon"]
    assert (mount.path / "Travel" / "Lisbon" / "tram.jpg").read_bytes() == photo(30)

    ok("mv", mount.path / "Travel" / "Lisbon", mount.path / "Travel" / "Lisbon 2026")
    renamed = account.node("Travel", "Lisbon 2026")
    assert renamed["NodeID"] == lisbon_id
    assert renamed["UrlName"] == "Lisbon-2026"
    assert account.find("Travel", "Lisbon") is None

    # A folder moves with everything in it, and is renamed in the same mv.
    ok("mv", mount.path / "Travel", mount.path / "Archive" / "Trips")
    trips = account.node("Archive", "Trips")
    assert trips["NodeID"] == travel_id
    assert trips["Type"] == FOLDER
    assert account.parents(trips)[0] == "Archive"
    assert account.parents(account.node("Archive", "Trips", "Lisbon 2026"))[:2] == [
        "Trips",
        "Archive",
    ]
    assert account.image_count(lisbon_uri) == 1
    assert sorted(c["Name"] for c in account.children()) == ["Archive"]
    assert sorted(os.listdir(mount.path / "Archive" / "Trips")) == ["2026", "Lisbon 2026"]
    assert requests_to(emulator, "POST /api/v2/node/{key}!movenodes") == 2


def test_mv_onto_an_existing_name_is_eexist_and_changes_nothing(
    emulator: Emulator, account: Account, mount: Mount
) -> None:
    first_uri = account.create("First")
    second_uri = account.create("Second")
    account.upload(first_uri, "a.jpg", photo(40))
    account.upload(second_uri, "b.jpg", photo(41))
    summer_uri = account.create("Summer 2024")  # UrlName Summer-2024
    shelf_uri = account.create("Shelf", FOLDER)
    account.create("Winter 2024", ALBUM, shelf_uri)
    before = {c["Name"]: (c["NodeID"], c["UrlName"]) for c in account.children()}
    emulator.reset_stats()

    assert "File exists" in fails("mv", "-T", mount.path / "First", mount.path / "Second")
    # A free name whose UrlName is taken: the service answers 409, the rename EEXIST (which
    # mv reports in its own words, so the call itself is checked too).
    fails("mv", "-T", mount.path / "First", mount.path / "Summer-2024")
    with pytest.raises(FileExistsError):
        os.rename(mount.path / "First", mount.path / "Summer-2024")
    # Moved into a folder under a name whose UrlName is taken there: not moved either.
    with pytest.raises(FileExistsError):
        os.rename(mount.path / "First", mount.path / "Shelf" / "Winter-2024")
    assert [c["Name"] for c in account.children(shelf_uri)] == ["Winter 2024"]
    assert os.listdir(mount.path / "Shelf") == ["Winter 2024"]

    after = {c["Name"]: (c["NodeID"], c["UrlName"]) for c in account.children()}
    assert after == before
    assert [i["FileName"] for i in account.images(first_uri)] == ["a.jpg"]
    assert [i["FileName"] for i in account.images(second_uri)] == ["b.jpg"]
    assert account.images(summer_uri) == []
    assert requests_to(emulator, "DELETE /api/v2/node/{key}") == 0
    assert sorted(os.listdir(mount.path)) == ["First", "Second", "Shelf", "Summer 2024"]
    assert os.listdir(mount.path / "First") == ["a.jpg"]


# ---------------------------------------------------------------------------- files


def test_cp_uploads_photos_whose_bytes_and_md5_equal_the_local_files(
    emulator: Emulator, account: Account, mount: Mount, tmp_path: Path
) -> None:
    ok("mkdir", mount.path / "Album")
    sources = {
        "small.jpg": photo(50, 10_000),
        "medium.jpg": photo(51, 700_000),
        "large.jpg": photo(52, 3_000_000),
        "Praça do Comércio.jpg": photo(53, 50_000),
        "50%25 off.jpg": photo(54, 50_000),
    }
    paths = [write(tmp_path / "src" / name, data) for name, data in sources.items()]
    emulator.reset_stats()
    ok("cp", *paths, mount.path / "Album")
    # close() returned only after the service confirmed: no waiting needed.
    images = account.by_name(account.album_uri("Album"))
    assert uploads(emulator) == len(sources)
    assert sorted(images) == sorted(sources)
    for name, data in sources.items():
        assert images[name]["ArchivedMD5"] == md5(data)
        assert images[name]["ArchivedSize"] == len(data)
        assert account.original(images[name]) == data
        assert (mount.path / "Album" / name).stat().st_size == len(data)
        assert md5sum(mount.path / "Album" / name) == md5(data)


def test_cp_over_an_existing_photo_replaces_it_in_place(
    emulator: Emulator, account: Account, mount: Mount, tmp_path: Path
) -> None:
    album_uri = account.create("Album")
    old = account.upload(album_uri, "view.jpg", photo(60))
    account.patch(old["ImageUri"], {"Title": "The view", "Caption": "From the castle"})
    before = account.images(album_uri)[0]
    assert (mount.path / "Album" / "view.jpg").read_bytes() == photo(60)
    new = photo(61, 250_000)
    emulator.reset_stats()
    ok("cp", write(tmp_path / "view.jpg", new), mount.path / "Album" / "view.jpg")
    assert uploads(emulator) == 1
    images = account.images(album_uri)
    assert len(images) == 1
    image = images[0]
    assert image["ImageKey"] == before["ImageKey"]
    assert image["Serial"] == before["Serial"] + 1
    assert image["ArchivedMD5"] == md5(new)
    assert account.original(image) == new
    assert image["Title"] == "The view"
    assert image["Caption"] == "From the castle"
    assert image["WebUri"] == before["WebUri"]
    assert (mount.path / "Album" / "view.jpg").read_bytes() == new
    assert os.listdir(mount.path / "Album") == ["view.jpg"]


def test_rsync_a_twice_replaces_the_edited_photo_and_duplicates_nothing(
    emulator: Emulator, account: Account, mount: Mount, tmp_path: Path
) -> None:
    album_uri = account.create("Album")
    source = tmp_path / "src"
    photos = {f"p{n}.jpg": photo(70 + n) for n in range(4)}
    for name, data in photos.items():
        write(source / name, data)
    ok("rsync", "-a", f"{source}/", f"{mount.path / 'Album'}/")
    first = account.by_name(album_uri)
    assert sorted(first) == sorted(photos)
    for name, data in photos.items():
        assert first[name]["ArchivedMD5"] == md5(data)

    time.sleep(1.1)  # so the edited file's mtime differs
    edited = photo(79, 150_000)
    write(source / "p2.jpg", edited)
    emulator.reset_stats()
    ok("rsync", "-a", f"{source}/", f"{mount.path / 'Album'}/")
    assert uploads(emulator) == 1
    second = account.by_name(album_uri)
    assert sorted(second) == sorted(photos)
    assert second["p2.jpg"]["ImageKey"] == first["p2.jpg"]["ImageKey"]
    assert second["p2.jpg"]["ArchivedMD5"] == md5(edited)
    for name in ("p0.jpg", "p1.jpg", "p3.jpg"):
        assert second[name]["ImageKey"] == first[name]["ImageKey"]
        assert second[name]["ArchivedMD5"] == md5(photos[name])
    assert sorted(os.listdir(mount.path / "Album")) == sorted(photos)
    assert md5sum(mount.path / "Album" / "p2.jpg") == md5(edited)


def test_cp_a_chmod_chown_and_touch_succeed(account: Account, mount: Mount, tmp_path: Path) -> None:
    ok("mkdir", mount.path / "Album")
    source = write(tmp_path / "kept.jpg", photo(80))
    source.chmod(0o640)
    os.utime(source, (1_600_000_000, 1_600_000_000))
    ok("cp", "-a", source, mount.path / "Album")
    target = mount.path / "Album" / "kept.jpg"
    ok("chmod", "600", target)
    ok("chown", f"{os.getuid()}:{os.getgid()}", target)
    ok("touch", "-d", "2020-01-01", target)
    ok("chmod", "755", mount.path / "Album")
    ok("touch", mount.path / "Album")
    images = account.by_name(account.album_uri("Album"))
    assert list(images) == ["kept.jpg"]
    assert images["kept.jpg"]["ArchivedMD5"] == md5(photo(80))
    assert target.read_bytes() == photo(80)


def test_truncate_then_write_replaces_the_photo(
    emulator: Emulator, account: Account, mount: Mount, tmp_path: Path
) -> None:
    album_uri = account.create("Album")
    account.upload(album_uri, "edit.jpg", photo(90))
    before = account.images(album_uri)[0]
    path = mount.path / "Album" / "edit.jpg"
    ok("truncate", "-s", "0", path)
    assert path.stat().st_size == 0
    new = photo(91, 120_000)
    ok("sh", "-c", 'cat "$1" > "$2"', "sh", write(tmp_path / "new.jpg", new), path)
    images = account.images(album_uri)
    assert len(images) == 1
    assert images[0]["ImageKey"] == before["ImageKey"]
    assert images[0]["ArchivedMD5"] == md5(new)

    # A file being written is cut short and written on before it is closed.
    fresh = mount.path / "Album" / "fresh.jpg"
    data = photo(92, 300_000)
    with open(fresh, "wb") as out:
        out.write(data + b"junk" * 10_000)
        out.truncate(len(data) // 2)
        out.seek(len(data) // 2)
        out.write(data[len(data) // 2 :])
    images_by_name = account.by_name(album_uri)
    assert images_by_name["fresh.jpg"]["ArchivedMD5"] == md5(data)
    assert fresh.stat().st_size == len(data)

    # A new empty file (`truncate -s 0` of a name that is not there) is written later.
    later = mount.path / "Album" / "later.jpg"
    ok("truncate", "-s", "0", later)
    assert later.stat().st_size == 0
    emulator.reset_stats()
    ok("cp", write(tmp_path / "later.jpg", photo(93)), later)
    assert uploads(emulator) == 1
    assert account.by_name(album_uri)["later.jpg"]["ArchivedMD5"] == md5(photo(93))


def test_system_junk_written_into_an_album_is_never_uploaded(
    emulator: Emulator, account: Account, mount: Mount, tmp_path: Path
) -> None:
    album_uri = account.create("Album")
    album = mount.path / "Album"
    os.listdir(album)
    emulator.reset_stats()
    names = [".DS_Store", "._x.jpg", "Thumbs.db", ".x.swp"]
    for n, name in enumerate(names):
        ok("cp", write(tmp_path / "junk" / name, photo(100 + n, 5_000)), album / name)
    ok("sh", "-c", 'printf "[Desktop Entry]\\n" > "$1"', "sh", album / ".directory")
    assert uploads(emulator) == 0
    assert account.images(album_uri) == []
    assert account.image_count(album_uri) == 0
    # The writes themselves succeeded: the files are there to read back.
    for n, name in enumerate(names):
        assert (album / name).read_bytes() == photo(100 + n, 5_000)
    assert sorted(os.listdir(album)) == sorted([*names, ".directory"])


def test_mv_of_an_uploaded_photo_renames_it_and_keeps_its_texts(
    emulator: Emulator, account: Account, mount: Mount
) -> None:
    album_uri = account.create("Album")
    data = photo(110)
    uploaded = account.upload(album_uri, "IMG_0001.jpg", data)
    texts = {
        "Title": "Sunset",
        "Caption": "Over the river, from the Cais do Sodré",
        "Keywords": "lisbon; river; sunset",
    }
    account.patch(uploaded["ImageUri"], texts)
    album = mount.path / "Album"
    ok("mv", album / "IMG_0001.jpg", album / "sunset.jpg")
    images = account.images(album_uri)
    assert [i["FileName"] for i in images] == ["sunset.jpg"]
    image = images[0]
    assert image["ArchivedMD5"] == md5(data)
    assert {k: image[k] for k in texts} == texts
    assert os.listdir(album) == ["sunset.jpg"]
    assert (album / "sunset.jpg").read_bytes() == data


def test_an_editor_saving_by_backup_rename_replaces_the_photo_in_place(
    account: Account, mount: Mount, tmp_path: Path
) -> None:
    # vim's default save: rename the file to its backup name, write the new file, delete the
    # backup. The photo must keep its key and captions, and no backup may reach the service.
    album_uri = account.create("Album")
    uploaded = account.upload(album_uri, "edit.jpg", photo(120))
    account.patch(uploaded["ImageUri"], {"Caption": "kept"})
    key = account.by_name(album_uri)["edit.jpg"]["ImageKey"]
    album = mount.path / "Album"
    edited = write(tmp_path / "edited.jpg", photo(121))
    ok("mv", album / "edit.jpg", album / "edit.jpg~")
    assert (album / "edit.jpg~").read_bytes() == photo(120)
    ok("cp", edited, album / "edit.jpg")
    ok("rm", album / "edit.jpg~")
    images = account.by_name(album_uri)
    assert list(images) == ["edit.jpg"]
    assert images["edit.jpg"]["ImageKey"] == key
    assert images["edit.jpg"]["ArchivedMD5"] == md5(photo(121))
    assert images["edit.jpg"]["Caption"] == "kept"
    assert sorted(os.listdir(album)) == ["edit.jpg"]


def test_a_photo_renamed_to_a_backup_name_and_deleted_is_deleted(
    account: Account, mount: Mount
) -> None:
    album_uri = account.create("Album")
    account.upload(album_uri, "gone.jpg", photo(130))
    album = mount.path / "Album"
    ok("mv", album / "gone.jpg", album / "gone.jpg~")
    assert account.image_count(album_uri) == 1
    ok("mv", album / "gone.jpg~", album / "gone.jpg")
    assert account.by_name(album_uri)["gone.jpg"]["ArchivedMD5"] == md5(photo(130))
    ok("mv", album / "gone.jpg", album / "gone.jpg~")
    ok("rm", album / "gone.jpg~")
    assert account.image_count(album_uri) == 0
    assert os.listdir(album) == []


def test_mv_of_a_photo_onto_another_photo_replaces_that_photo(
    account: Account, mount: Mount
) -> None:
    album_uri = account.create("Album")
    account.upload(album_uri, "a.jpg", photo(120))
    account.upload(album_uri, "b.jpg", photo(121))
    b_key = account.by_name(album_uri)["b.jpg"]["ImageKey"]
    album = mount.path / "Album"
    assert sorted(os.listdir(album)) == ["a.jpg", "b.jpg"]
    ok("mv", album / "a.jpg", album / "b.jpg")
    images = account.images(album_uri)
    assert [i["FileName"] for i in images] == ["b.jpg"]
    assert images[0]["ImageKey"] == b_key
    assert images[0]["ArchivedMD5"] == md5(photo(120))
    assert os.listdir(album) == ["b.jpg"]
    assert (album / "b.jpg").read_bytes() == photo(120)


def test_mv_of_a_photo_to_another_album_keeps_its_key(
    emulator: Emulator, account: Account, mount: Mount
) -> None:
    from_uri = account.create("From")
    to_uri = account.create("To")
    account.upload(from_uri, "a.jpg", photo(130))
    account.upload(from_uri, "c.jpg", photo(131))
    keys = {name: image["ImageKey"] for name, image in account.by_name(from_uri).items()}
    emulator.reset_stats()
    ok("mv", mount.path / "From" / "a.jpg", mount.path / "To")
    assert requests_to(emulator, "POST /api/v2/album/{key}!moveimages") == 1
    assert uploads(emulator) == 0
    target = account.by_name(to_uri)
    assert list(target) == ["a.jpg"]
    assert target["a.jpg"]["ImageKey"] == keys["a.jpg"]
    assert list(account.by_name(from_uri)) == ["c.jpg"]
    assert os.listdir(mount.path / "From") == ["c.jpg"]
    assert os.listdir(mount.path / "To") == ["a.jpg"]
    assert (mount.path / "To" / "a.jpg").read_bytes() == photo(130)

    # To another album under a new name.
    ok("mv", mount.path / "From" / "c.jpg", mount.path / "To" / "d.jpg")
    target = account.by_name(to_uri)
    assert sorted(target) == ["a.jpg", "d.jpg"]
    assert target["d.jpg"]["ArchivedMD5"] == md5(photo(131))
    assert account.images(from_uri) == []
    assert os.listdir(mount.path / "From") == []
    assert sorted(os.listdir(mount.path / "To")) == ["a.jpg", "d.jpg"]


def test_rm_deletes_the_image(emulator: Emulator, account: Account, mount: Mount) -> None:
    album_uri = account.create("Album")
    gone = account.upload(album_uri, "gone.jpg", photo(140))
    account.upload(album_uri, "kept.jpg", photo(141))
    assert sorted(os.listdir(mount.path / "Album")) == ["gone.jpg", "kept.jpg"]
    ok("rm", mount.path / "Album" / "gone.jpg")
    assert [i["FileName"] for i in account.images(album_uri)] == ["kept.jpg"]
    assert account.status(gone["ImageUri"]) == 404
    assert os.listdir(mount.path / "Album") == ["kept.jpg"]
    assert "No such file or directory" in fails("cat", mount.path / "Album" / "gone.jpg")


# ---------------------------------------------------------------------------- refusals and faults


@pytest.mark.parametrize("kind", ["bmp", "random"])
@pytest.mark.log_expected("flush failed: upload refused")
def test_a_refused_upload_is_reported_by_cp_and_leaves_nothing_behind(
    kind: str, emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    album_uri = account.create("Album")
    account.upload(album_uri, "kept.jpg", photo(150))
    if kind == "bmp":
        source = write(tmp_path / "drawing.bmp", picture(fmt="BMP"))
    else:
        source = write(tmp_path / "noise.jpg", seeded_bytes(151, 50_000))
    with mounted(emulator, tmp_path / "mount") as mount:
        album = mount.path / "Album"
        message = fails("cp", source, album)
        assert "Invalid argument" in message
        assert source.name in message
        assert sorted(os.listdir(album)) == ["kept.jpg"]
        assert [i["FileName"] for i in account.images(album_uri)] == ["kept.jpg"]
        # Written over an existing photo: refused, and the photo stays as it was.
        message = fails("cp", source, album / "kept.jpg")
        assert "Invalid argument" in message
        images = account.images(album_uri)
        assert [(i["FileName"], i["ArchivedMD5"]) for i in images] == [
            ("kept.jpg", md5(photo(150)))
        ]
        assert sorted(os.listdir(album)) == ["kept.jpg"]
        assert (album / "kept.jpg").read_bytes() == photo(150)
        problems = mount.problems()
    assert problems, "the refusal is logged"
    assert all("refused" in line for line in problems), problems


@pytest.mark.parametrize("kind", ["500", "503", "drop"])
def test_an_upload_lands_exactly_once_while_the_service_fails(
    kind: str, emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    album_uri = account.create("Album")
    photos = {f"f{n}.jpg": photo(160 + n, 100_000) for n in range(5)}
    paths = [write(tmp_path / "src" / name, data) for name, data in photos.items()]
    with mounted(emulator, tmp_path / "mount") as mount:
        os.listdir(mount.path / "Album")
        emulator.reset_stats()
        emulator.configure(fault_rate=0.4, fault_kinds=[kind], seed=7)
        try:
            for path in paths:
                ok("cp", path, mount.path / "Album")
        finally:
            emulator.configure(fault_rate=0)
        stats = emulator.stats()
        assert stats["faults"].get(kind, 0) > 0, stats
        assert account.image_count(album_uri) == len(photos)
        images = account.by_name(album_uri)
        assert {name: i["ArchivedMD5"] for name, i in images.items()} == {
            name: md5(data) for name, data in photos.items()
        }
        assert sorted(os.listdir(mount.path / "Album")) == sorted(photos)
        assert mount.problems() == []


def test_a_new_file_is_listed_and_readable_while_the_service_listing_lags(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    album_uri = account.create("Album")
    account.upload(album_uri, "old.jpg", photo(170))
    data = photo(171, 400_000)
    source = write(tmp_path / "new.jpg", data)
    with mounted(emulator, tmp_path / "mount", options=["listing_ttl=1"]) as mount:
        album = mount.path / "Album"
        assert os.listdir(album) == ["old.jpg"]
        emulator.configure(listing_delay_ms=5000)
        try:
            ok("cp", source, album)
            ok("rm", album / "old.jpg")
            time.sleep(1.5)  # the mount's own listing has expired; the service's still lags
            listed = [i["FileName"] for i in account.images(album_uri)]
            assert listed == ["old.jpg"], "the service lists the change late"
            lines = ok("ls", "-l", album).strip().splitlines()[1:]
            assert len(lines) == 1
            assert lines[0].split()[4] == str(len(data))
            assert lines[0].endswith(" new.jpg")
            assert md5sum(album / "new.jpg") == md5(data)
            # Once the service's listing shows it, it is listed once.
            deadline = time.monotonic() + 15
            while [i["FileName"] for i in account.images(album_uri)] != ["new.jpg"]:
                assert time.monotonic() < deadline
                time.sleep(0.5)
            time.sleep(1.5)
            assert os.listdir(album) == ["new.jpg"]
            assert md5sum(album / "new.jpg") == md5(data)
        finally:
            emulator.configure(listing_delay_ms=0)
        assert mount.problems() == []


def test_names_the_service_cannot_hold_are_refused_precisely(
    account: Account, mount: Mount, tmp_path: Path
) -> None:
    album_uri = account.create("Album")
    account.upload(album_uri, "kept.jpg", photo(180))
    album = mount.path / "Album"
    long_name = "x" * 252 + ".jpg"  # 256 bytes
    assert "File name too long" in fails("touch", album / long_name)
    assert "File name too long" in fails("mkdir", mount.path / ("y" * 256))
    assert "File name too long" in fails("mv", album / "kept.jpg", album / long_name)
    source = write(tmp_path / "src.jpg", photo(181))
    for raw in (b"\xff\xfe.jpg", b"line\nbreak.jpg", b"tab\there.jpg"):
        with pytest.raises(OSError, match="Invalid argument") as refused:
            os.open(os.path.join(os.fsencode(album), raw), os.O_WRONLY | os.O_CREAT, 0o644)
        assert refused.value.errno == errno.EINVAL, raw
    with pytest.raises(OSError, match="Invalid argument") as refused:
        os.mkdir(os.path.join(os.fsencode(mount.path), b"caf\xe9"))
    assert refused.value.errno == errno.EINVAL
    # A name of exactly 255 bytes, non-ASCII included, is fine.
    longest = "é" * 125 + "x.jpg"
    assert len(longest.encode()) == 255
    ok("cp", source, album / longest)
    assert sorted(i["FileName"] for i in account.images(album_uri)) == sorted(["kept.jpg", longest])
    assert [c["Name"] for c in account.children()] == ["Album"]
