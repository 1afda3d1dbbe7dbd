"""inspect, list_channels and cleanup (python/src/inspect.rs), on a channel
held by a Rust producer process that is then killed."""

import signal
import time

import pytest

import datahub
from patterns import CALIB, SENSOR_FRAME, TELEMETRY


def wait_listed(name, timeout=10.0):
    deadline = time.monotonic() + timeout
    while name not in datahub.list_channels():
        if time.monotonic() > deadline:
            pytest.fail(f"channel {name} not listed after {timeout} s")
        time.sleep(0.01)


def test_inspect_shows_a_live_producers_channel(peer, channel, schemas):
    holder = peer("hold", channel)
    holder.expect_line(f"created {channel}")
    wait_listed(channel)
    names = datahub.list_channels()
    assert names == sorted(names)

    snap = datahub.inspect(channel)
    # The fields of `datahub inspect --json`.
    assert set(snap) >= {
        "channel", "state", "channel_hash", "slot", "capacity", "overflow", "checksum",
        "secret", "max_consumers", "stall_timeout_ms", "segment_bytes", "uptime_ms",
        "committed", "producer", "counters", "consumers", "zones", "slots",
    }
    assert snap["channel"] == channel
    assert snap["state"] == "ready"
    assert snap["channel_hash"] == datahub.schema_hash(schemas / "sensor.toml")
    assert snap["slot"] == {
        "kind": "typed",
        "size": 4112,
        "canonical": SENSOR_FRAME,
        "hash": snap["slot"]["hash"],
    }
    assert snap["slot"]["hash"].startswith("dh1:")
    assert (snap["capacity"], snap["overflow"], snap["checksum"]) == (8, "block", "enforced")
    assert (snap["max_consumers"], snap["secret"], snap["committed"]) == (8, False, 0)
    assert snap["producer"]["pid"] == holder.pid
    assert snap["producer"]["alive"] is True
    assert snap["counters"]["items_committed"] == 0
    assert all(isinstance(v, int) for v in snap["counters"].values())
    assert snap["consumers"] == []
    assert [(z["name"], z["locked"], z["canonical"]) for z in snap["zones"]] == [
        ("telemetry", False, TELEMETRY),
        ("calibration", True, CALIB),
    ]
    assert len(snap["slots"]) == 8
    assert {s["state"] for s in snap["slots"]} == {"free"}

    # In use: cleanup keeps it.
    [verdict] = datahub.cleanup(channel)
    assert verdict["verdict"] == "kept" and str(holder.pid) in verdict["reason"]


def test_a_killed_producers_segment_is_seen_dead_and_cleaned_up(peer, channel):
    holder = peer("hold", channel)
    holder.expect_line(f"created {channel}")
    wait_listed(channel)
    holder.kill(signal.SIGKILL)

    snap = datahub.inspect(channel)
    assert snap["producer"]["pid"] == holder.pid
    assert snap["producer"]["alive"] is False
    assert channel in datahub.list_channels(), "SIGKILL leaves the segment behind"

    [dry] = datahub.cleanup([channel], dry_run=True)
    assert (dry["channel"], dry["verdict"]) == (channel, "would_remove")
    assert channel in datahub.list_channels()
    [done] = datahub.cleanup([channel])
    assert done["verdict"] == "removed"
    assert f"pid {holder.pid}" in done["reason"]
    assert channel not in datahub.list_channels()
    with pytest.raises(datahub.NotFound):
        datahub.inspect(channel)


def test_cleanup_of_no_channels_judges_none():
    assert datahub.cleanup([]) == []
