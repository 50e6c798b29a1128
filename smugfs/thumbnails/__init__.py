"""Thumbnails for file managers, made from the service's renditions instead of the originals.

`freedesktop` is the Thumbnail Managing Standard's cache (names, PNG keys, atomic writes);
`renditions` picks which of an image's renditions a thumbnail is scaled from; `thumbnailer`
fetches them for the albums a person opens or is about to open.
"""
