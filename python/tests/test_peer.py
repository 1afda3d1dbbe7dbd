"""The Rust peer itself: its patterns are what patterns.py recomputes (byte
for byte, through the binding's dtypes), and each producer mode streams to
its consumer mode, Rust to Rust, so a Python test that fails against it
fails because of Python."""

import numpy as np
import pytest

import datahub
import patterns


def peer_pattern(peer, kind, i):
    p = peer("pattern", kind, i)
    [hex_line] = p.finish()
    return bytes.fromhex(hex_line)


@pytest.mark.parametrize("i", [0, 1, 63, 64, 1000, 99_999])
def test_patterns_py_is_the_peers_pattern(peer, i):
    assert peer_pattern(peer, "sensor", i) == patterns.sensor_frame(i).tobytes()
    assert peer_pattern(peer, "tracker", i) == patterns.tracked_body(i).tobytes()
    assert peer_pattern(peer, "bytes", i) == patterns.bytes_item(i).tobytes()


def test_a_peer_pattern_reads_back_through_the_dtype(peer):
    raw = peer_pattern(peer, "sensor", 5)
    frame = np.frombuffer(raw, dtype=datahub.dtype_of(patterns.SENSOR_FRAME))[0]
    assert (frame["seq"], frame["timestamp_ns"]) == (5, 1005)
    np.testing.assert_array_equal(frame["samples"], patterns.sensor_samples(5))


@pytest.mark.parametrize(
    "kind, count",
    [("sensor", 300), ("bytes", 40), ("tracker", 500)],
)
def test_each_peer_producer_streams_to_its_consumer(peer, channel, kind, count):
    consumer = peer(f"consume-{kind}", channel, count)  # waits for the channel
    producer = peer(f"produce-{kind}", channel, count)  # waits for the consumer
    assert producer.finish()[-1] == f"sent {count}"
    assert consumer.finish()[-1] == f"ok {count}"


def test_the_peer_zone_handshake_runs_both_ways(peer, channel):
    first = peer("zones-producer", channel)
    first.expect_line(f"created {channel}")
    second = peer("zones-consumer", channel)
    assert second.finish()[-1] == "ok zones"
    assert first.finish()[-1] == "ok zones"


def test_a_peer_consumer_reports_the_first_mismatch(peer, channel):
    # A tracker channel under the name: the sensor consumer refuses it by
    # its channel hash, and says so on stderr with a nonzero exit.
    holder = peer("produce-tracker", channel, 1)
    holder.expect_line(f"created {channel}")
    consumer = peer("consume-sensor", channel, 1)
    consumer.process.wait(timeout=60)
    assert consumer.process.returncode == 1
    assert "schema mismatch" in consumer.process.stderr.read()
