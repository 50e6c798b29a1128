"""XMP sidecars rendered and read (`smugfs.xmp`), without a mount."""

from __future__ import annotations

import dataclasses

import pytest

from smugfs import xmp
from smugfs.api.models import RemoteImage
from smugfs.errors import InvalidRequest

IMAGE = RemoteImage.parse(
    {
        "ImageKey": "k1",
        "FileName": "a.jpg",
        "Title": "Tram & <28>",
        "Caption": "Über den Dächern\nzweite Zeile",
        "KeywordArray": ["lisbon", "tram 28"],
        "Latitude": "-33.85678",
        "Longitude": "151.21502",
        "Altitude": 58,
    }
)


def test_a_rendered_sidecar_reads_back_as_the_same_fields() -> None:
    data = xmp.render(IMAGE)
    assert data == xmp.render(IMAGE)  # the same bytes every time: an exact size
    said = xmp.read(data)
    assert said.not_kept == []
    assert said.fields == {
        "Title": "Tram & <28>",
        "Caption": "Über den Dächern\nzweite Zeile",
        "KeywordArray": ["lisbon", "tram 28"],
        "Latitude": pytest.approx(-33.85678),
        "Longitude": pytest.approx(151.21502),
        "Altitude": 58,
    }
    assert xmp.changes(IMAGE, said.fields) == {}


def test_an_empty_photo_renders_an_empty_description() -> None:
    bare = dataclasses.replace(
        IMAGE, title="", caption="", keywords=(), latitude=0.0, longitude=0.0, altitude=0
    )
    data = xmp.render(bare)
    assert b"dc:" not in data.split(b"xmlns:dc")[1].split(b">", 1)[1]
    assert xmp.changes(bare, xmp.read(data).fields) == {}


def test_what_another_program_wrote() -> None:
    written = """<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>
<x:xmpmeta xmlns:x='adobe:ns:meta/'>
<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>
 <rdf:Description rdf:about='' xmlns:dc='http://purl.org/dc/elements/1.1/'
   xmlns:xmp='http://ns.adobe.com/xap/1.0/' xmp:Rating='4'>
  <dc:title><rdf:Alt>
    <rdf:li xml:lang='pt-PT'>Eléctrico</rdf:li>
    <rdf:li xml:lang='x-default'>Tram</rdf:li>
  </rdf:Alt></dc:title>
  <dc:subject><rdf:Bag><rdf:li>a</rdf:li><rdf:li>b;c</rdf:li><rdf:li>a</rdf:li></rdf:Bag></dc:subject>
  <dc:creator><rdf:Seq><rdf:li>Ana</rdf:li></rdf:Seq></dc:creator>
 </rdf:Description>
 <rdf:Description rdf:about='' xmlns:exif='http://ns.adobe.com/exif/1.0/'
   exif:GPSLatitude='38,42,50.04N' exif:GPSLongitude='9,8.004W'>
  <exif:GPSAltitude>-5/2</exif:GPSAltitude>
 </rdf:Description>
</rdf:RDF>
</x:xmpmeta>""".encode()
    said = xmp.read(written)
    assert said.fields["Title"] == "Tram"
    assert said.fields["Caption"] == ""  # left out: cleared
    assert said.fields["KeywordArray"] == ["a", "b", "c"]
    assert said.fields["Latitude"] == pytest.approx(38.7139)
    assert said.fields["Longitude"] == pytest.approx(-9.1334)
    assert said.fields["Altitude"] == 0
    assert "xmp:Rating" in said.not_kept
    assert "dc:creator" in said.not_kept
    assert "dc:title in other languages" in said.not_kept
    assert any("b;c" in what for what in said.not_kept)
    assert any("altitude" in what for what in said.not_kept)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<unclosed",
        # Entity expansion (a billion laughs in small) and an external entity are refused.
        b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><x>&b;</x>',
        b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        b"<x:xmpmeta xmlns:x='adobe:ns:meta/' xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'"
        b" xmlns:exif='http://ns.adobe.com/exif/1.0/'><rdf:RDF><rdf:Description"
        b" exif:GPSLatitude='north' exif:GPSLongitude='1'/></rdf:RDF></x:xmpmeta>",
        b"<x:xmpmeta xmlns:x='adobe:ns:meta/' xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'"
        b" xmlns:exif='http://ns.adobe.com/exif/1.0/'><rdf:RDF><rdf:Description"
        b" exif:GPSLatitude='95,0N' exif:GPSLongitude='1'/></rdf:RDF></x:xmpmeta>",
    ],
)
def test_unreadable_sidecars_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidRequest):
        xmp.read(data)


def test_only_changed_fields_are_sent() -> None:
    fields = xmp.read(xmp.render(IMAGE)).fields
    fields["Caption"] = "New"
    assert xmp.changes(IMAGE, fields) == {"Caption": "New"}
