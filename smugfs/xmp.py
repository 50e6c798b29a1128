"""XMP sidecars: a photo's title, caption, keywords and position as the standard XMP packet
that digiKam, darktable, Lightroom and exiftool read beside `NAME.EXT` as `NAME.EXT.xmp`.

`render` makes the packet from what the service holds: `dc:title` and `dc:description` (each
an `rdf:Alt` with an `x-default` item), `dc:subject` (an `rdf:Bag` of keywords) and, where the
photo has a position, `exif:GPSLatitude`/`exif:GPSLongitude` (`DDD,MM.mmmmmmk`) with
`exif:GPSAltitude`/`exif:GPSAltitudeRef`. The same photo always gives the same bytes, so the
sidecar's size is exact.

`read` takes a packet another program wrote (input from anywhere: parsed with defusedxml,
which refuses entity expansion and external references) and says what it sets the service's
fields to, and what in it the service cannot keep. A field the packet leaves out is cleared,
as the file is the whole description; other properties (ratings, creators, edit histories...)
are reported, not kept. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import xml.etree.ElementTree as ET
from fractions import Fraction
from typing import Any
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from smugfs.api.models import RemoteImage
from smugfs.errors import InvalidRequest

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"
EXIF = "http://ns.adobe.com/exif/1.0/"
XML = "http://www.w3.org/XML/1998/namespace"
X = "adobe:ns:meta/"
ALTITUDE_MAX = 16_777_215
# What a sidecar says that the service keeps, by its property.
KEPT = {
    f"{{{DC}}}title",
    f"{{{DC}}}description",
    f"{{{DC}}}subject",
    f"{{{EXIF}}}GPSLatitude",
    f"{{{EXIF}}}GPSLongitude",
    f"{{{EXIF}}}GPSAltitude",
    f"{{{EXIF}}}GPSAltitudeRef",
}
_PREFIXES = {
    RDF: "rdf",
    DC: "dc",
    EXIF: "exif",
    XML: "xml",
    X: "x",
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://ns.adobe.com/lightroom/1.0/": "lr",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://darktable.sf.net/": "darktable",
    "http://www.digikam.org/ns/1.0/": "digiKam",
}


def _alt(tag: str, text: str) -> str:
    return (
        f"   <{tag}>\n    <rdf:Alt>\n"
        f'     <rdf:li xml:lang="x-default">{escape(text)}</rdf:li>\n'
        f"    </rdf:Alt>\n   </{tag}>\n"
    )


def _coordinate(value: float, positive: str, negative: str) -> str:
    """XMP's GPS coordinate: whole degrees, decimal minutes, the hemisphere."""
    hemisphere = positive if value >= 0 else negative
    minutes = abs(value) * 60
    degrees = int(minutes // 60)
    return f"{degrees},{minutes - degrees * 60:.8f}{hemisphere}"


def render(image: RemoteImage) -> bytes:
    """The sidecar of a photo as the service describes it."""
    parts = [
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n',
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n',
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n',
        '  <rdf:Description rdf:about=""\n',
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n',
        '    xmlns:exif="http://ns.adobe.com/exif/1.0/">\n',
    ]
    if image.title:
        parts.append(_alt("dc:title", image.title))
    if image.caption:
        parts.append(_alt("dc:description", image.caption))
    if image.keywords:
        items = "".join(f"     <rdf:li>{escape(k)}</rdf:li>\n" for k in image.keywords)
        parts.append(f"   <dc:subject>\n    <rdf:Bag>\n{items}    </rdf:Bag>\n   </dc:subject>\n")
    if image.latitude or image.longitude:
        parts.append(
            f"   <exif:GPSLatitude>{_coordinate(image.latitude, 'N', 'S')}</exif:GPSLatitude>\n"
            f"   <exif:GPSLongitude>{_coordinate(image.longitude, 'E', 'W')}"
            "</exif:GPSLongitude>\n"
        )
    if image.altitude:
        parts.append(
            "   <exif:GPSAltitudeRef>0</exif:GPSAltitudeRef>\n"
            f"   <exif:GPSAltitude>{image.altitude}/1</exif:GPSAltitude>\n"
        )
    parts.append("  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n")
    parts.append('<?xpacket end="w"?>\n')
    return "".join(parts).encode("utf-8")


@functools.lru_cache(maxsize=65_536)
def size(image: RemoteImage) -> int:
    """The byte size of a photo's sidecar (remembered: every listing of an album asks it of
    each photo)."""
    return len(render(image))


@dataclasses.dataclass
class Read:
    """What a written sidecar says: the service fields it sets, and what it holds that the
    service cannot keep (for the log)."""

    fields: dict[str, Any]
    not_kept: list[str]


def _name(tag: str) -> str:
    """A property's name as people write it (`dc:creator`, `xmp:Rating`)."""
    if tag.startswith("{"):
        uri, _, local = tag[1:].partition("}")
        return f"{_PREFIXES.get(uri, uri)}:{local}"
    return tag


def _items(prop: ET.Element) -> list[ET.Element]:
    return [li for container in prop for li in container if li.tag == f"{{{RDF}}}li"]


def _text_of(prop: ET.Element, not_kept: list[str]) -> str:
    """An `rdf:Alt` language alternative: its x-default item (or its only one)."""
    items = _items(prop)
    if not items:
        return (prop.text or "").strip()
    chosen = next((li for li in items if li.get(f"{{{XML}}}lang") == "x-default"), items[0])
    if len(items) > 1:
        not_kept.append(f"{_name(prop.tag)} in other languages")
    return chosen.text or ""


_COORDINATE = re.compile(r"^\s*(\d+(?:\.\d+)?),(\d+(?:\.\d+)?)(?:,(\d+(?:\.\d+)?))?([NSEW])\s*$")


def _degrees(text: str, name: str) -> float:
    found = _COORDINATE.match(text)
    if found:
        degrees, minutes, seconds, hemisphere = found.groups()
        value = float(degrees) + float(minutes) / 60 + float(seconds or 0) / 3600
        return -value if hemisphere in "SW" else value
    try:
        value = float(text)
    except ValueError:
        raise InvalidRequest(f"the sidecar's {name} {text!r} is not a coordinate") from None
    if not math.isfinite(value):
        raise InvalidRequest(f"the sidecar's {name} {text!r} is not a coordinate")
    return value


def _simple(description: ET.Element, tag: str) -> str | None:
    """A simple property, written as an element or as an attribute of `rdf:Description`."""
    value = description.get(tag)
    if value is not None:
        return value
    element = description.find(tag)
    return None if element is None else (element.text or "")


def read(data: bytes) -> Read:
    """What a written sidecar sets the photo's fields to; InvalidRequest (EINVAL) if it is not
    an XMP packet that can be read safely."""
    try:
        root = SafeET.fromstring(data)
    except (ET.ParseError, DefusedXmlException, ValueError) as exc:
        raise InvalidRequest(f"the sidecar is not XMP that can be read: {exc}") from None
    descriptions = root.iter(f"{{{RDF}}}Description")
    not_kept: list[str] = []
    title = caption = ""
    keywords: list[str] = []
    latitude = longitude = 0.0
    altitude = 0
    for description in descriptions:
        for attribute in description.attrib:
            if attribute not in KEPT and not attribute.startswith(f"{{{RDF}}}"):
                not_kept.append(_name(attribute))
        for prop in description:
            if prop.tag not in KEPT:
                not_kept.append(_name(prop.tag))
            elif prop.tag == f"{{{DC}}}title":
                title = _text_of(prop, not_kept)
            elif prop.tag == f"{{{DC}}}description":
                caption = _text_of(prop, not_kept)
            elif prop.tag == f"{{{DC}}}subject":
                for li in _items(prop):
                    word = (li.text or "").strip()
                    if ";" in word:
                        not_kept.append(f"the keyword {word!r} (the service splits it at ';')")
                        keywords.extend(w.strip() for w in word.split(";") if w.strip())
                    elif word and word not in keywords:
                        keywords.append(word)
        lat = _simple(description, f"{{{EXIF}}}GPSLatitude")
        lon = _simple(description, f"{{{EXIF}}}GPSLongitude")
        if lat is not None and lon is not None:
            latitude = _degrees(lat, "GPSLatitude")
            longitude = _degrees(lon, "GPSLongitude")
        height = _simple(description, f"{{{EXIF}}}GPSAltitude")
        if height is not None:
            altitude = _altitude(
                height, _simple(description, f"{{{EXIF}}}GPSAltitudeRef"), not_kept
            )
    if not -90 <= latitude <= 90 or not -180 <= longitude <= 180:
        raise InvalidRequest("the sidecar's position is not on the globe")
    fields: dict[str, Any] = {
        "Title": title,
        "Caption": caption,
        "KeywordArray": keywords,
        "Latitude": round(latitude, 14),
        "Longitude": round(longitude, 14),
        "Altitude": altitude,
    }
    return Read(fields, sorted(set(not_kept), key=not_kept.index))


def _altitude(text: str, ref: str | None, not_kept: list[str]) -> int:
    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise InvalidRequest(f"the sidecar's GPSAltitude {text!r} is not a number") from None
    if (ref or "0").strip() == "1":
        value = -value
    metres = round(value)
    if metres != value:
        not_kept.append("the altitude's fraction of a metre")
    if not 0 <= metres <= ALTITUDE_MAX:
        not_kept.append(f"the altitude {float(value):g} m (the service keeps 0 to {ALTITUDE_MAX})")
        return 0
    return int(metres)


def changes(image: RemoteImage, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields a sidecar sets that differ from what the service holds (so an unchanged
    sidecar written back sends nothing)."""
    current: dict[str, Any] = {
        "Title": image.title,
        "Caption": image.caption,
        "KeywordArray": list(image.keywords),
        "Latitude": image.latitude,
        "Longitude": image.longitude,
        "Altitude": image.altitude,
    }
    out = {}
    for name, value in fields.items():
        old = current[name]
        same = math.isclose(old, value, abs_tol=1e-9) if isinstance(old, float) else old == value
        if not same:
            out[name] = value
    return out
