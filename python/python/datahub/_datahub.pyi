"""Type stubs of the extension module ``datahub._datahub`` (Rust, PyO3)."""

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

__version__: str

# PyO3 lists every name the module init adds (classes too, once added).
__all__ = [
    "AccessDenied",
    "ChannelExists",
    "ChecksumMismatch",
    "Closed",
    "ConsumersFull",
    "CorruptSegment",
    "DataHubError",
    "InvalidArgument",
    "InvalidConfig",
    "ItemHeld",
    "NoRing",
    "NotFound",
    "PayloadTooLarge",
    "ProducerGone",
    "Released",
    "SchemaChanged",
    "SchemaError",
    "SchemaMismatch",
    "Timeout",
    "ViewsOutstanding",
    "WrongZone",
    "__version__",
    "_view_layout",
    "cleanup",
    "describe_schema",
    "dtype_of",
    "inspect",
    "list_channels",
    "schema_hash",
]

# Exceptions. ``code`` is the stable DH number of the error (an int, e.g.
# 207 for DH207); a class's own ``code`` is its usual one.

class DataHubError(Exception):
    """Base of every DataHub error; ``code`` is its DH number."""

    code: int

class SchemaError(DataHubError):
    """DH1xx: a schema file that does not load (DH190: unreadable)."""

class InvalidConfig(DataHubError, ValueError):
    """DH201: a channel configuration or name that cannot be used."""

class ChannelExists(DataHubError):
    """DH202: the channel exists and its producer is alive."""

class NotFound(DataHubError):
    """DH203: no such channel; DH219: the broker knows no producer of it."""

class CorruptSegment(DataHubError):
    """DH204: the channel's segment cannot be true."""

class Closed(DataHubError):
    """DH206: the producer closed the channel for good."""

class SchemaMismatch(DataHubError):
    """DH207: the channel's schema is not the one expected."""

class ConsumersFull(DataHubError):
    """DH208: every consumer entry of the channel is taken."""

class Timeout(DataHubError, TimeoutError):
    """DH209 (also DH205, DH217): a wait ran out."""

class ChecksumMismatch(DataHubError):
    """DH211: an item's enforced checksum did not match."""

class WrongZone(DataHubError):
    """DH212: no zone of that name and kind."""

class PayloadTooLarge(DataHubError, ValueError):
    """DH213: a payload longer than the channel's slots."""

class AccessDenied(DataHubError):
    """DH214: the channel's secret and the caller's differ."""

class ProducerGone(DataHubError):
    """DH215: the channel's producer died."""

class SchemaChanged(DataHubError):
    """DH216: the channel was recreated with another schema: re-attach."""

class ItemHeld(DataHubError):
    """DH225: the consumer still holds an item."""

class NoRing(DataHubError):
    """DH226: the channel has no ring (zones only)."""

class Released(DataHubError):
    """DH301: a slot, item or zone guard used after it was released."""

class ViewsOutstanding(DataHubError, BufferError):
    """DH302: numpy views of the slot are still alive."""

class InvalidArgument(DataHubError, ValueError):
    """DH303: an argument the binding cannot use."""

# Functions.

def inspect(channel: str) -> Dict[str, Any]:
    """A snapshot of the channel, as ``datahub inspect --json`` prints it."""

def list_channels() -> List[str]:
    """The channels that have a segment on this machine, sorted."""

def cleanup(
    channels: Union[str, Sequence[str], None] = None, *, dry_run: bool = False
) -> List[Dict[str, Any]]:
    """Removes abandoned segments (dead producer, no live consumer)."""

def schema_hash(path: Union[str, "os.PathLike[str]"], channel: Optional[str] = None) -> str:
    """The ``dh1:`` channel hash of a channel of a schema file."""

def describe_schema(
    path: Union[str, "os.PathLike[str]"], channel: Optional[str] = None
) -> Dict[str, Any]:
    """A channel of a schema file: hash, slot layout, ring, zones."""

def dtype_of(canonical: str) -> np.dtype[Any]:
    """The numpy dtype of a canonical layout."""

def _view_layout(canonical: str) -> Tuple[np.dtype[Any], List[int]]:
    """(dtype, shape) of a numpy view of a whole slot of that layout."""
