"""Streams `sensor` frames (schemas/sensor.toml) from Python: a sine wave
that drifts, written straight into the slots, with the telemetry zone kept
up to date. Run it beside `live_plot.py` (or the Rust `sensor-consumer`).

    python examples/python/producer.py [--name sensor] [--rate 100] [--seconds 30]
"""

import argparse
import os
import time

import numpy as np

import datahub

SCHEMA = os.path.join(os.path.dirname(__file__), "..", "..", "schemas", "sensor.toml")


def main():
    parser = argparse.ArgumentParser(description="Stream sensor frames from Python.")
    parser.add_argument("--name", default="sensor", help="the channel's name")
    parser.add_argument("--rate", type=float, default=100.0, help="frames per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()

    p = datahub.Producer.create(SCHEMA, channel="sensor", name=args.name)
    tel = p.zone("telemetry")
    with p.locked_zone("calibration") as calib:
        calib["gain"][:] = 1.0
        calib["label"][: len(b"python")] = np.frombuffer(b"python", np.uint8)
    tel.store("state", 1)
    x = np.linspace(0, 4 * np.pi, 1024, dtype=np.float32)
    period = 1.0 / args.rate
    start = time.monotonic()
    seq = 0
    print(f"producing `{args.name}` at {args.rate:g} frames/s for {args.seconds:g} s")
    while time.monotonic() - start < args.seconds:
        with p.acquire(timeout=1.0) as slot:
            frame = slot.data
            frame["timestamp_ns"] = time.monotonic_ns()
            frame["seq"] = seq
            np.sin(x + seq * 0.05, out=frame["samples"])
        tel.fetch_add("frame_count", 1)
        seq += 1
        if seq % int(max(args.rate, 1)) == 0:
            tel.store("fps", seq / (time.monotonic() - start))
        time.sleep(max(0.0, start + seq * period - time.monotonic()))
    tel.store("state", 2)
    p.close()
    print(f"sent {seq} frames")


if __name__ == "__main__":
    main()
