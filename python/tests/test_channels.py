"""Channels between Python and Rust processes, and the Python API's
guarantees: every frame checked, zones both ways, schema mismatches named,
a killed producer seen, views that raise once released, zero copy.

The Rust side is `py-peer` (examples/src/bin/py-peer.rs), whose module docs
give the patterns recomputed here.
"""

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc

import numpy as np
import pytest

import datahub

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SENSOR = os.path.join(ROOT, "schemas", "sensor.toml")
CAMERA = os.path.join(ROOT, "schemas", "camera.toml")
TRACKER = os.path.join(ROOT, "schemas", "tracker.toml")
_names = itertools.count()


@pytest.fixture
def name():
    """A channel name of this test alone; its segment is removed after."""
    channel = f"pyc-{os.getpid()}-{next(_names)}"
    yield channel
    try:
        datahub.cleanup(channel)
    except datahub.DataHubError:
        pass


@pytest.fixture(scope="module")
def peer():
    path = os.environ.get("DATAHUB_PY_PEER")
    if not path:
        pytest.skip("DATAHUB_PY_PEER is not set: run scripts/test, which builds py-peer")
    return path


def start(peer, *args):
    return subprocess.Popen(
        [peer, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc, expect):
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"peer failed ({proc.returncode}): {err}"
    assert expect in out, out


def sensor_samples(i):
    return ((np.arange(1024) + i * 1024) % 65536).astype(np.float32)


def test_a_python_producer_streams_100000_sensor_frames_to_a_rust_consumer(peer, name):
    count = 100_000
    p = datahub.Producer.create(SENSOR, channel="sensor", name=name)
    rust = start(peer, "consume-sensor", name, count)
    deadline = time.monotonic() + 30
    while p.consumer_count == 0:
        assert time.monotonic() < deadline, "the Rust consumer never attached"
        time.sleep(0.005)
    base = np.arange(1024)
    for i in range(count):
        with p.acquire(timeout=10.0) as slot:
            data = slot.data
            data["timestamp_ns"] = 1000 + i
            data["seq"] = i
            data["samples"][:] = (base + i * 1024) % 65536
    p.close()
    finish(rust, f"ok {count}")


def test_a_rust_producer_streams_100000_sensor_frames_to_a_python_consumer(peer, name):
    count = 100_000
    rust = start(peer, "produce-sensor", name, count)
    c = datahub.Consumer.attach(name, schema=SENSOR, channel="sensor", timeout=30.0)
    base = np.arange(1024)
    seen = 0
    for item in c:
        i = item.seq
        assert i == seen
        data = item.data
        assert data["seq"] == i and data["timestamp_ns"] == 1000 + i
        assert np.array_equal(data["samples"], ((base + i * 1024) % 65536).astype(np.float32))
        seen += 1
    assert seen == count and c.lost == 0
    finish(rust, f"sent {count}")


def test_raw_bytes_items_of_every_length_cross_both_ways(peer, name):
    count = 300
    rust = start(peer, "produce-bytes", name, count)
    c = datahub.Consumer.attach(name, schema=CAMERA, channel="raw-camera", timeout=30.0)
    assert c.kind == "bytes" and c.dtype == np.uint8
    for i in range(count):
        with c.next(timeout=30.0) as item:
            n = 1 + (i * 7919) % 65536
            expected = ((i + 31 * np.arange(n)) % 251).astype(np.uint8)
            assert len(item) == n and np.array_equal(item.data, expected)
    finish(rust, f"sent {count}")

    back = f"{name}-back"
    try:
        p = datahub.Producer.create(CAMERA, name=back)
        rust = start(peer, "consume-bytes", back, count)
        while p.consumer_count == 0:
            time.sleep(0.005)
        for i in range(count):
            n = 1 + (i * 7919) % 65536
            if i % 2:
                p.send(((i + 31 * np.arange(n)) % 251).astype(np.uint8).tobytes(), timeout=10.0)
            else:
                with p.acquire(timeout=10.0) as slot:
                    slot.data[:n] = (i + 31 * np.arange(n)) % 251
                    slot.len = n
                    slot.update_checksum()  # camera.toml: checksum = "manual"
        p.close()
        finish(rust, f"ok {count}")
    finally:
        datahub.cleanup(back)


def test_a_nested_struct_schema_reads_as_nested_dtypes_both_ways(peer, name):
    count = 2000
    rust = start(peer, "produce-tracker", name, count)
    c = datahub.Consumer.attach(name, schema=TRACKER, timeout=30.0)
    seen = 0
    while True:
        try:
            item = c.next(timeout=30.0)
        except datahub.Closed:
            break
        with item:
            i = item.seq
            d = item.data
            assert d["id"] == i % 65536 and d["quality"] == i % 200 - 100
            position = d["pose"]["position"]
            assert (position["x"], position["y"], position["z"]) == (i, i / 2, -i)
            assert d["pose"]["orientation"][3] == i / 4
            cov = ((np.arange(36).reshape(6, 6) + i * 36) % 65536).astype(np.float32)
            assert np.array_equal(d["covariance"], cov)
            seen += 1
    assert seen + c.lost == count, (seen, c.lost)
    finish(rust, f"sent {count}")


def test_zones_cross_both_ways(peer, name):
    # Python as side 2: the Rust producer writes first.
    rust = start(peer, "zones-producer", name)
    c = datahub.Consumer.attach(name, schema=SENSOR, channel="sensor", timeout=30.0)
    tel = c.zone("telemetry")
    deadline = time.monotonic() + 30
    while tel.load("state") != 3:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    with c.locked_zone("calibration", timeout=5.0) as calib:
        assert calib["gain"][0] == 2.5
        calib["offset"][0] = -1.5
    assert tel.load("fps") == 50.0 and tel.load("frame_count") == 1
    assert tel.fetch_add("frame_count", 1) == 1
    tel.store("state", 4)
    finish(rust, "ok zones")
    c.close()

    # Python as side 1: it creates the channel and writes first.
    other = f"{name}-z"
    try:
        p = datahub.Producer.create(SENSOR, channel="sensor", name=other)
        rust = start(peer, "zones-consumer", other)
        with p.locked_zone("calibration", timeout=5.0) as calib:
            calib["gain"][0] = 2.5
            calib["label"][:7] = np.frombuffer(b"py-peer", np.uint8)
        tel = p.zone("telemetry")
        tel.store("fps", 50.0)
        tel.fetch_add("frame_count", 1)
        tel.store("state", 3)
        deadline = time.monotonic() + 30
        while tel.load("state") != 4:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert p.locked_zone("calibration").read()["offset"][0] == -1.5
        assert tel.load("frame_count") == 2
        finish(rust, "ok zones")
        p.close()
    finally:
        datahub.cleanup(other)


def test_a_wrong_schema_is_refused_naming_the_field(name, tmp_path):
    p = datahub.Producer.create(SENSOR, channel="sensor", name=name)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(open(SENSOR).read().replace('{ name = "seq", type = "u32" }',
                                                 '{ name = "seq", type = "i32" }'))
    with pytest.raises(datahub.SchemaMismatch) as err:
        datahub.Consumer.attach(name, schema=str(wrong), channel="sensor")
    assert err.value.code == 207
    assert "field `seq`" in str(err.value)
    p.close()


def test_a_killed_producer_gives_producer_gone(peer, name):
    rust = start(peer, "hold", name)
    assert rust.stdout.readline().startswith("created")
    c = datahub.Consumer.attach(name, schema=SENSOR, channel="sensor")
    rust.send_signal(signal.SIGKILL)
    rust.wait()
    with pytest.raises(datahub.ProducerGone) as err:
        c.next(timeout=10.0)
    assert err.value.code == 215
    # Detached, so the fixture's cleanup can remove the dead producer's
    # segment (a consumer still attached keeps it).
    c.close()


def test_a_view_used_after_release_raises_and_reads_nothing(name):
    p = datahub.Producer.create(SENSOR, channel="sensor", name=name)
    c = datahub.Consumer.attach(name)
    p.send({"seq": 5, "samples": np.full(1024, 2.0, np.float32)})
    with c.next(timeout=1.0) as item:
        view = item.data
        samples = view["samples"]
        kept = item.copy()
        assert samples.mean() == 2.0
    for use in (lambda: view["seq"], lambda: samples.mean(), lambda: samples[0],
                lambda: np.sum(samples), lambda: samples.copy(), lambda: repr(samples),
                lambda: item.data):
        with pytest.raises(datahub.Released) as err:
            use()
        assert err.value.code == 228
    assert kept["seq"] == 5 and isinstance(kept, np.ndarray)
    assert not isinstance(kept, datahub._view.SlotArray)
    with p.acquire(timeout=1.0) as slot:
        written = slot.data
        written["seq"] = 6
    with pytest.raises(datahub.Released):
        written["seq"] = 7
    with pytest.raises(datahub.Released):
        slot.commit()
    with pytest.raises(datahub.Released):
        item.data["seq"] = 1
    p.close()


def test_received_views_are_read_only(name):
    p = datahub.Producer.create(SENSOR, channel="sensor", name=name)
    c = datahub.Consumer.attach(name)
    p.send({"seq": 1})
    with c.next(timeout=1.0) as item:
        with pytest.raises(ValueError):
            item.data["seq"] = 2
    p.close()


def test_a_4_mib_frame_is_viewed_in_place_without_a_copy(name):
    p = datahub.Producer.create(CAMERA, name=name)
    c = datahub.Consumer.attach(name)
    frame = np.arange(4 << 20, dtype=np.uint64).astype(np.uint8)
    with p.acquire(timeout=1.0) as slot:
        slot.data[:] = frame
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    with c.next(timeout=1.0) as item:
        data = item.data
        address = data.ctypes.data
        assert data.nbytes == 4 << 20 and not data.flags.owndata
        assert int(data[-1]) == int(frame[-1])
        after = tracemalloc.take_snapshot()
        grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
        mapping = [line for line in open(f"/proc/{os.getpid()}/maps")
                   if f"datahub.{name}" in line]
    tracemalloc.stop()
    assert grown < 64 << 10, f"reading a 4 MiB frame allocated {grown} bytes"
    inside = []
    for line in mapping:
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        inside.append(lo <= address and address + (4 << 20) <= hi)
    assert any(inside), f"the view at {address:#x} is not in the segment's mapping: {mapping}"
    p.close()


def test_try_next_latest_and_timeouts(name):
    p = datahub.Producer.create(SENSOR, channel="sensor", name=name)
    c = datahub.Consumer.attach(name, schema=SENSOR)
    assert c.try_next() is None
    started = time.monotonic()
    with pytest.raises(datahub.Timeout) as err:
        c.next(timeout=0.2)
    assert isinstance(err.value, TimeoutError) and err.value.code == 209
    assert 0.15 < time.monotonic() - started < 2.0
    for seq in range(3):
        p.send({"seq": seq})
    with c.latest(timeout=1.0) as item:
        assert item.data["seq"] == 2
    assert c.try_next() is None
    assert c.schema_hash == p.schema_hash and c.schema_hash.startswith("dh1:")
    assert c.dtype == p.dtype and c.dtype.itemsize == 4112
    p.close()
    with pytest.raises(datahub.Closed):
        c.next(timeout=1.0)


def test_an_exception_in_the_with_block_aborts_the_slot(name):
    p = datahub.Producer.create(SENSOR, channel="sensor", name=name)
    c = datahub.Consumer.attach(name)
    with pytest.raises(KeyError):
        with p.acquire(timeout=1.0) as slot:
            slot.data["seq"] = 99
            raise KeyError("boom")
    p.send({"seq": 1})
    with c.next(timeout=1.0) as item:
        assert item.data["seq"] == 1 and item.seq == 0
    p.close()


def test_a_wait_releases_the_gil_and_ctrl_c_interrupts_it(name):
    p = datahub.Producer.create(SENSOR, channel="sensor", name=name)
    code = (
        "import datahub, signal, sys, time\n"
        f"c = datahub.Consumer.attach({name!r})\n"
        "got = []\n"
        "def on_int(*_):\n"
        "    got.append(time.monotonic())\n"
        "    raise KeyboardInterrupt\n"
        "signal.signal(signal.SIGINT, on_int)\n"
        "print('waiting', flush=True)\n"
        "try:\n"
        "    c.next(timeout=30.0)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "waiting"
    time.sleep(0.3)
    sent = time.monotonic()
    child.send_signal(signal.SIGINT)
    line = child.stdout.readline().split()
    took = time.monotonic() - sent
    child.wait(timeout=10)
    assert line and line[0] == "interrupted", line
    # The handler runs between two 50 ms slices of the wait; the rest is
    # the child's print and this process being scheduled (2 cores, loaded).
    assert took < 0.5, f"Ctrl-C took {took:.3f} s (a slice is 50 ms)"

    # Another thread runs while this one waits.
    c = datahub.Consumer.attach(name)
    ticks = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks.append(1)

    t = threading.Thread(target=spin)
    t.start()
    time.sleep(0.05)
    before = len(ticks)
    with pytest.raises(datahub.Timeout):
        c.next(timeout=0.3)
    during = len(ticks) - before
    stop.set()
    t.join()
    # 50 ms of spinning gave `before`; the 300 ms wait must give more than
    # twice that: with the GIL held through the wait it would give almost
    # nothing (a few ticks between slices).
    assert during > 2 * before, (before, during)
    p.close()


def test_closing_a_consumer_releases_its_item_and_a_producer_aborts_its_slot(name):
    p = datahub.Producer.create(SENSOR, channel="sensor", name=name)
    c = datahub.Consumer.attach(name)
    p.send({"seq": 1})
    item = c.next(timeout=1.0)
    view = item.data
    c.close()
    with pytest.raises(datahub.Released):
        view["seq"]
    with pytest.raises(datahub.Released):
        item.data
    slot = p.acquire(timeout=1.0)
    written = slot.data
    p.close()
    with pytest.raises(datahub.Released):
        written["seq"] = 3
    with pytest.raises(datahub.Closed):  # the close aborted it
        slot.commit()


def test_a_wait_ends_with_closed_when_another_thread_closes_the_handle(name):
    p = datahub.Producer.create(SENSOR, channel="sensor", name=name)
    c = datahub.Consumer.attach(name)
    ended = []

    def read():
        try:
            c.next(timeout=None)
        except datahub.Closed as e:
            ended.append(e.code)

    t = threading.Thread(target=read)
    t.start()
    time.sleep(0.2)
    started = time.monotonic()
    c.close()
    t.join(timeout=5)
    assert not t.is_alive() and ended == [206]
    assert time.monotonic() - started < 1.0
    p.close()


def test_slots_and_items_the_garbage_collector_frees_are_given_back(name):
    import gc

    p = datahub.Producer.create(SENSOR, channel="sensor", name=name)
    c = datahub.Consumer.attach(name)
    gc.disable()
    try:
        # A slot kept alive only by a reference cycle, then an error raised
        # while the producer's lock is held: the collector frees the slot
        # inside that call, which must not wait for the lock it holds.
        holder = {"slot": p.acquire(timeout=1.0)}
        holder["self"] = holder
        del holder
        with pytest.raises(datahub.SlotHeld):
            p.acquire(timeout=0.0)
        gc.collect()
        assert p.send({"seq": 9}, timeout=1.0) == 0  # the dropped slot was aborted
        holder = {"item": c.next(timeout=1.0)}
        holder["self"] = holder
        del holder
        with pytest.raises(datahub.ItemHeld):
            c.try_next()
        gc.collect()
        p.send({"seq": 10}, timeout=1.0)
        with c.next(timeout=1.0) as item:
            assert item.data["seq"] == 10
    finally:
        gc.enable()
    p.close()


def test_a_loop_left_with_break_lets_the_next_read_go_on(name):
    p = datahub.Producer.create(SENSOR, channel="sensor", name=name)
    c = datahub.Consumer.attach(name)
    for seq in range(3):
        p.send({"seq": seq})
    for item in c:
        assert item.data["seq"] == 0
        break
    with c.next(timeout=1.0) as item:
        assert item.data["seq"] == 1
    assert c.try_next().seq == 2
    p.close()


def test_send_takes_only_values_of_the_slots_layout(name):
    p = datahub.Producer.create(SENSOR, channel="sensor", name=name)
    c = datahub.Consumer.attach(name)
    for wrong in (5, np.float64(1.0), np.zeros((), dtype=[("seq", "<u4"), ("timestamp_ns", "<u8")]),
                  b"short", {"nope": 1}):
        with pytest.raises(datahub.InvalidArgument) as err:
            p.send(wrong, timeout=1.0)
        assert err.value.code == 229
    value = np.zeros((), dtype=p.dtype)
    value["seq"] = 4
    p.send(value, timeout=1.0)
    with c.next(timeout=1.0) as item:
        record = item.data[()]
        assert record["seq"] == 4
    assert record["seq"] == 4  # a copy: still readable after the release
    p.close()


def test_the_example_producer_streams_frames_a_consumer_reads(name):
    script = os.path.join(ROOT, "examples", "python", "producer.py")
    producer = subprocess.Popen(
        [sys.executable, script, "--name", name, "--rate", "200", "--seconds", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    c = datahub.Consumer.attach(name, schema=SENSOR, channel="sensor", timeout=30.0)
    seqs = [item.seq for item in c]
    out, err = producer.communicate(timeout=60)
    assert producer.returncode == 0, err
    # Lossless once attached: every frame from the first one seen (frames
    # written before the consumer attached may have left the ring).
    assert len(seqs) > 50 and seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs[:5]
    assert f"sent {seqs[-1] + 1} frames" in out
