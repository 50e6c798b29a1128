"""The listings component: what each directory of the account holds, kept current, saved
between mounts and with this mount's own changes laid over it. `fs.py` (reading) and
`changes/` (changing) both work through it; it imports neither."""

from smugfs.listings.attributes import Attributes, attributes_of
from smugfs.listings.core import Listings

__all__ = ["Attributes", "Listings", "attributes_of"]
