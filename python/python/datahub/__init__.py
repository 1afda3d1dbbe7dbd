"""DataHub for Python: zero-copy data exchange through shared memory.

Channels are described by TOML schemas; slots are read and written in
place as numpy arrays whose dtype comes from the schema's layout. The
extension module ``datahub._datahub`` (Rust, PyO3) does the work; this
package re-exports it.

Errors are ``DataHubError`` subclasses with ``.code``, the stable DH
number (DH1xx schema files, DH2xx the runtime and this binding).
"""

from ._datahub import (
    AccessDenied,
    ChannelExists,
    ChecksumMismatch,
    Closed,
    ConsumersFull,
    CorruptSegment,
    DataHubError,
    InvalidArgument,
    InvalidConfig,
    ItemHeld,
    NoRing,
    NotFound,
    PayloadTooLarge,
    ProducerGone,
    Released,
    SchemaChanged,
    SchemaError,
    SchemaMismatch,
    Timeout,
    SlotHeld,
    WrongZone,
    __version__,
    cleanup,
    describe_schema,
    dtype_of,
    inspect,
    list_channels,
    schema_hash,
)

from ._datahub import Consumer, Item, LockedZone, Producer, WriteSlot, Zone
from . import _view  # noqa: E402  (SlotArray, the views' class: imported for its checks)

__all__ = [
    "AccessDenied",
    "Consumer",
    "Item",
    "LockedZone",
    "Producer",
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
    "cleanup",
    "describe_schema",
    "dtype_of",
    "inspect",
    "list_channels",
    "schema_hash",
]
