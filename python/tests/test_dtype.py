"""numpy dtypes from canonical layouts (python/src/dtype.rs)."""

import struct

import numpy as np
import pytest

import datahub
from patterns import CALIB, COUNTERS, SENSOR_FRAME, TELEMETRY, TRACKED_BODY


def test_the_hardcoded_layouts_are_the_schema_files(schemas):
    sensor = datahub.describe_schema(schemas / "sensor.toml")
    assert sensor["slot_canonical"] == SENSOR_FRAME
    assert [z["canonical"] for z in sensor["zones"]] == [TELEMETRY, CALIB]
    tracker = datahub.describe_schema(str(schemas / "tracker.toml"), "tracker")
    assert tracker["slot_canonical"] == TRACKED_BODY
    assert [z["canonical"] for z in tracker["zones"]] == [COUNTERS]


def test_sensor_frame_is_the_hand_written_dtype():
    expected = np.dtype(
        {
            "names": ["timestamp_ns", "seq", "_pad0", "samples"],
            "formats": ["<u8", "<u4", ("u1", (4,)), ("<f4", (1024,))],
            "offsets": [0, 8, 12, 16],
            "itemsize": 4112,
        }
    )
    dtype = datahub.dtype_of(SENSOR_FRAME)
    assert dtype == expected
    assert dtype.names == ("timestamp_ns", "seq", "_pad0", "samples")
    assert dtype.itemsize == 4112
    assert [dtype.fields[n][1] for n in dtype.names] == [0, 8, 12, 16]
    samples = dtype.fields["samples"][0]
    assert samples.shape == (1024,)
    assert samples.base == np.dtype("<f4")
    assert dtype.fields["timestamp_ns"][0] == np.dtype("<u8")


def test_nested_structs_are_nested_dtypes_with_their_offsets():
    dtype = datahub.dtype_of(TRACKED_BODY)
    assert dtype.itemsize == 208
    assert dtype.names == ("id", "flags", "quality", "reserved", "pose", "covariance")
    assert [dtype.fields[n][1] for n in dtype.names] == [0, 2, 3, 4, 8, 64]
    assert dtype.fields["quality"][0] == np.dtype("i1")
    pose, pose_offset = dtype.fields["pose"]
    assert (pose.itemsize, pose_offset) == (56, 8)
    position, position_offset = pose.fields["position"]
    assert (position.names, position.itemsize, position_offset) == (("x", "y", "z"), 24, 0)
    assert position.fields["z"] == (np.dtype("<f8"), 16)
    orientation, orientation_offset = pose.fields["orientation"]
    assert (orientation.shape, orientation.base, orientation_offset) == ((4,), np.dtype("<f8"), 24)
    covariance = dtype.fields["covariance"][0]
    assert (covariance.shape, covariance.base) == ((6, 6), np.dtype("<f4"))


def test_a_nested_dtype_reads_the_bytes_of_a_c_struct():
    # TrackedBody packed by hand with `struct`, as a C compiler lays it out.
    cov = [float(k) for k in range(36)]
    raw = struct.pack("<HBbI3d4d36f", 7, 3, -5, 99, 1.0, 2.0, 3.0, 0.5, 0.25, 0.125, 4.0, *cov)
    raw += bytes(208 - len(raw))
    body = np.frombuffer(raw, dtype=datahub.dtype_of(TRACKED_BODY))[0]
    assert (body["id"], body["flags"], body["quality"], body["reserved"]) == (7, 3, -5, 99)
    assert body["pose"]["position"]["y"] == 2.0
    assert body["pose"]["orientation"][3] == 4.0
    assert body["covariance"][5][4] == 34.0


def test_atomic_fields_are_plain_numbers_of_their_width():
    telemetry = datahub.dtype_of(TELEMETRY)
    assert telemetry.itemsize == 16
    assert telemetry.fields["frame_count"] == (np.dtype("<u8"), 0)
    assert telemetry.fields["fps"] == (np.dtype("<f4"), 8)
    assert telemetry.fields["state"] == (np.dtype("<u4"), 12)
    counters = datahub.dtype_of(COUNTERS)
    assert counters.fields["last_ts"] == (np.dtype("<i8"), 8)
    assert counters.fields["rate_hz"] == (np.dtype("<f8"), 16)
    per_camera, offset = counters.fields["per_camera"]
    assert (per_camera.shape, per_camera.base, offset) == ((4,), np.dtype("<u2"), 24)


def test_a_locked_zone_type_has_its_arrays():
    calib = datahub.dtype_of(CALIB)
    assert calib.itemsize == 192
    assert calib.fields["label"][0].shape == (64,)
    assert calib.fields["offset"][1] == 64


@pytest.mark.parametrize(
    "canonical, numpy_type",
    [
        ("u8", "u1"), ("u16", "<u2"), ("u32", "<u4"), ("u64", "<u8"),
        ("i8", "i1"), ("i16", "<i2"), ("i32", "<i4"), ("i64", "<i8"),
        ("f32", "<f4"), ("f64", "<f8"),
        ("atomic_u8", "u1"), ("atomic_u16", "<u2"), ("atomic_u32", "<u4"), ("atomic_u64", "<u8"),
        ("atomic_i8", "i1"), ("atomic_i16", "<i2"), ("atomic_i32", "<i4"), ("atomic_i64", "<i8"),
        ("atomic_f32", "<f4"), ("atomic_f64", "<f8"),
    ],
)
def test_every_primitive_is_a_little_endian_scalar(canonical, numpy_type):
    assert datahub.dtype_of(canonical) == np.dtype(numpy_type)


def test_arrays_at_the_top_are_subarrays_and_views_have_their_shape():
    assert datahub.dtype_of("[f32;4]") == np.dtype(("<f4", (4,)))
    assert datahub.dtype_of("[[u16;3];2]") == np.dtype(("<u2", (2, 3)))
    dtype, shape = datahub._datahub._view_layout("[u8;4194304]")
    assert (dtype, shape) == (np.dtype(np.uint8), [4194304])
    dtype, shape = datahub._datahub._view_layout("[[f32;6];6]")
    assert (dtype, shape) == (np.dtype("<f4"), [6, 6])
    dtype, shape = datahub._datahub._view_layout(SENSOR_FRAME)
    assert (dtype, shape) == (datahub.dtype_of(SENSOR_FRAME), [])
    assert datahub._datahub._view_layout("u32") == (np.dtype("<u4"), [])


@pytest.mark.parametrize(
    "canonical",
    [
        "",
        "{",
        "u128",
        "{8/8:a:u64@0",
        "{8/8:a:u64@4}",                        # a field past the end
        "{8/8:a:u32@0,a:u32@4}",                # a name twice
        "{8/8:a:u64@0}trailing",
        "[u8;99999999999999999999]",            # longer than u64
        "[[u64;4294967296];4294967296]",        # a size that overflows
        "{18446744073709551615/8:a:u8@0}",      # bigger than numpy allows
        "{8/8:a:[u8;0]@0,b:u64@0}" + "x" * 500,  # long text, shortened in the message
        "[" * 200 + "u8" + ";1]" * 200,         # nested deeper than any schema
    ],
)
def test_a_malformed_layout_raises_datahub_error_not_a_crash(canonical):
    with pytest.raises(datahub.DataHubError) as caught:
        datahub.dtype_of(canonical)
    assert caught.value.code == 229
    assert "cannot make a numpy dtype of the layout" in str(caught.value)
    assert len(str(caught.value)) < 600


def test_dtype_of_wants_a_string():
    with pytest.raises(TypeError):
        datahub.dtype_of(42)
