"""Plots live `sensor` frames with matplotlib: the newest frame's samples,
redrawn as frames arrive, with the producer's telemetry in the title.
Without a display (no $DISPLAY, or --png), it saves the plot to a PNG every
second instead.

    python examples/python/live_plot.py [--name sensor] [--png sensor.png] [--seconds 10]

Needs matplotlib (`pip install matplotlib`). Run a producer first:
`python examples/python/producer.py` or `cargo run -p datahub-examples --bin sensor-producer`.
"""

import argparse
import os
import time

import datahub

SCHEMA = os.path.join(os.path.dirname(__file__), "..", "..", "schemas", "sensor.toml")


def main():
    parser = argparse.ArgumentParser(description="Plot live sensor frames.")
    parser.add_argument("--name", default="sensor", help="the channel's name")
    parser.add_argument("--png", help="save to this PNG instead of a window")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    headless = args.png is not None or not os.environ.get("DISPLAY")
    import matplotlib

    if headless:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png = args.png or "sensor.png"
    c = datahub.Consumer.attach(args.name, schema=SCHEMA, channel="sensor",
                                start="newest", timeout=10.0)
    tel = c.zone("telemetry")
    fig, ax = plt.subplots()
    (line,) = ax.plot(range(1024), [0.0] * 1024)
    ax.set_ylim(-1.1, 1.1)
    ax.set_xlabel("sample")
    start = last_save = time.monotonic()
    frames = 0
    while time.monotonic() - start < args.seconds:
        try:
            item = c.latest(timeout=1.0)
        except datahub.Timeout:
            continue
        except datahub.Closed:
            break
        with item:
            line.set_ydata(item.data["samples"].copy())  # kept by matplotlib: a copy
            seq = int(item.data["seq"])
        frames += 1
        ax.set_title(f"{args.name}: frame {seq}, producer at {tel.load('fps'):.0f} frames/s, "
                     f"{c.lost} lost")
        if headless:
            if time.monotonic() - last_save >= 1.0:
                fig.savefig(png)
                last_save = time.monotonic()
        else:
            plt.pause(0.001)
    if headless:
        fig.savefig(png)
        print(f"plotted {frames} frames, saved {png}")


if __name__ == "__main__":
    main()
