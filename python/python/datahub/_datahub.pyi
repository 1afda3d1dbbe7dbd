"""Type stubs of the extension module ``datahub._datahub`` (Rust, PyO3)."""

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union, final

import numpy as np

__version__: str

# PyO3 lists every name the module init adds (classes too, once added).
__all__ = [
    "AccessDenied",
    "Consumer",
    "Item",
    "LockedZone",
    "Producer",
    "ViewGuard",
    "WriteSlot",
    "Zone",
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
    "SlotHeld",
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
    """DH228: a slot, item, zone lock or numpy view used after it was released."""

class SlotHeld(DataHubError):
    """DH227: the producer still has a slot acquired."""

class InvalidArgument(DataHubError, ValueError):
    """DH229: an argument the binding cannot use."""

# Classes.

_Timeout = Optional[float]
_Path = Union[str, "os.PathLike[str]"]

@final
class Producer:
    """The producer of a channel, created from a TOML schema."""
    @staticmethod
    def create(schema: _Path, channel: Optional[str] = None, name: Optional[str] = None) -> Producer: ...
    def acquire(self, timeout: _Timeout = None) -> WriteSlot: ...
    def send(self, value: Any, timeout: _Timeout = None) -> int: ...
    def zone(self, name: str) -> Zone: ...
    def locked_zone(self, name: str, timeout: _Timeout = None) -> LockedZone: ...
    @property
    def name(self) -> str: ...
    @property
    def dtype(self) -> np.dtype[Any]: ...
    @property
    def schema_hash(self) -> str: ...
    @property
    def consumer_count(self) -> int: ...
    @property
    def next_seq(self) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> Producer: ...
    def __exit__(self, *args: Any) -> bool: ...

@final
class WriteSlot:
    """A slot claimed for writing in place; commits on a clean `with` exit."""
    @property
    def seq(self) -> int: ...
    @property
    def data(self) -> np.ndarray[Any, Any]: ...
    @property
    def len(self) -> int: ...
    @len.setter
    def len(self, value: int) -> None: ...
    def update_checksum(self) -> None: ...
    def commit(self) -> int: ...
    def abort(self) -> None: ...
    def __enter__(self) -> WriteSlot: ...
    def __exit__(self, exc_type: Any, _exc: Any = None, _tb: Any = None) -> bool: ...

@final
class Consumer:
    """A consumer of a channel, reading its items in place."""
    @staticmethod
    def attach(
        name: str,
        schema: Optional[_Path] = None,
        channel: Optional[str] = None,
        start: str = "oldest",
        timeout: _Timeout = 2.0,
    ) -> Consumer: ...
    def next(self, timeout: _Timeout = None) -> Item: ...
    def latest(self, timeout: _Timeout = None) -> Item: ...
    def try_next(self) -> Optional[Item]: ...
    def __iter__(self) -> Consumer: ...
    def __next__(self) -> Item: ...
    def zone(self, name: str) -> Zone: ...
    def locked_zone(self, name: str, timeout: _Timeout = None) -> LockedZone: ...
    @property
    def name(self) -> str: ...
    @property
    def dtype(self) -> np.dtype[Any]: ...
    @property
    def schema_hash(self) -> str: ...
    @property
    def layout(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def slot_size(self) -> int: ...
    @property
    def lost(self) -> int: ...
    @property
    def position(self) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> Consumer: ...
    def __exit__(self, *args: Any) -> bool: ...

@final
class Item:
    """An item read in place, held until released."""
    @property
    def seq(self) -> int: ...
    @property
    def lost_before(self) -> int: ...
    @property
    def released(self) -> bool: ...
    @property
    def data(self) -> np.ndarray[Any, Any]: ...
    def copy(self) -> np.ndarray[Any, Any]: ...
    def tobytes(self) -> bytes: ...
    def release(self) -> None: ...
    def __len__(self) -> int: ...
    def __enter__(self) -> Item: ...
    def __exit__(self, *args: Any) -> bool: ...

@final
class Zone:
    """A lock-free zone: its atomic fields by name."""
    def load(self, field: str) -> Union[int, float]: ...
    def store(self, field: str, value: Union[int, float]) -> None: ...
    def fetch_add(self, field: str, delta: Union[int, float]) -> Union[int, float]: ...
    @property
    def fields(self) -> List[str]: ...
    @property
    def name(self) -> str: ...
    @property
    def layout(self) -> str: ...

@final
class LockedZone:
    """A locked zone: a numpy view of it while its lock is held."""
    def __enter__(self) -> np.ndarray[Any, Any]: ...
    def __exit__(self, *args: Any) -> bool: ...
    def read(self) -> np.ndarray[Any, Any]: ...
    @property
    def dtype(self) -> np.dtype[Any]: ...
    @property
    def name(self) -> str: ...
    @property
    def holder(self) -> Optional[int]: ...

@final
class ViewGuard:
    """The numpy base object of a view: keeps its memory mapped."""
    @property
    def released(self) -> bool: ...
    @property
    def what(self) -> str: ...

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
