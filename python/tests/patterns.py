"""The py-peer's item patterns (``examples/src/bin/py-peer.rs``, module
doc), recomputed with numpy: item ``i`` of each channel as the slot holds
it. ``test_patterns.py`` checks them byte for byte against the peer's own
(``py-peer pattern KIND I``).
"""

import numpy as np

import datahub

# The canonical layouts of schemas/sensor.toml and schemas/tracker.toml, as
# `datahub-codegen hash --json` prints them (stable: a change is a new
# schema hash). test_dtype.py checks them against the schema files.
SENSOR_FRAME = (
    "{4112/8:timestamp_ns:u64@0,seq:u32@8,_pad0:[u8;4]@12,samples:[f32;1024]@16}"
)
TELEMETRY = "{16/8:frame_count:atomic_u64@0,fps:atomic_f32@8,state:atomic_u32@12}"
CALIB = "{192/8:gain:[f64;8]@0,offset:[f64;8]@64,label:[u8;64]@128}"
TRACKED_BODY = (
    "{208/8:id:u16@0,flags:u8@2,quality:i8@3,reserved:u32@4,"
    "pose:{56/8:position:{24/8:x:f64@0,y:f64@8,z:f64@16}@0,orientation:[f64;4]@24}@8,"
    "covariance:[[f32;6];6]@64}"
)
COUNTERS = (
    "{32/8:bodies_seen:atomic_u32@0,dropped:atomic_u32@4,last_ts:atomic_i64@8,"
    "rate_hz:atomic_f64@16,per_camera:[atomic_u16;4]@24}"
)


def sensor_frame(i: int) -> np.ndarray:
    """Item ``i`` of ``sensor``: a 0-d array of SensorFrame's dtype."""
    frame = np.zeros((), dtype=datahub.dtype_of(SENSOR_FRAME))
    frame["timestamp_ns"] = 1000 + i
    frame["seq"] = i % 2**32
    frame["samples"] = sensor_samples(i)
    return frame


def sensor_samples(i: int) -> np.ndarray:
    """``samples`` of item ``i`` of ``sensor``."""
    return ((np.arange(1024, dtype=np.int64) + i * 1024) % 65536).astype(np.float32)


def bytes_item(i: int) -> np.ndarray:
    """Item ``i`` of ``raw-camera``: its bytes, as a 1-D uint8 array."""
    n = 1 + (i * 7919) % 65536
    return ((i + 31 * np.arange(n, dtype=np.int64)) % 251).astype(np.uint8)


def tracked_body(i: int) -> np.ndarray:
    """Item ``i`` of ``tracker``: a 0-d array of TrackedBody's dtype."""
    body = np.zeros((), dtype=datahub.dtype_of(TRACKED_BODY))
    body["id"] = i % 65536
    body["flags"] = i % 256
    body["quality"] = i % 200 - 100
    body["reserved"] = i % 2**32
    x = float(i)
    body["pose"]["position"]["x"] = x
    body["pose"]["position"]["y"] = x / 2
    body["pose"]["position"]["z"] = -x
    body["pose"]["orientation"] = [1.0, 0.0, 0.0, x / 4]
    body["covariance"] = (
        (np.arange(36, dtype=np.int64).reshape(6, 6) + i * 36) % 65536
    ).astype(np.float32)
    return body
