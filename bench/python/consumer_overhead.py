"""Python consumer overhead: items/s of a Python consumer against a Rust
consumer in the same run, for 64 B and 4 KiB raw-bytes slots.

A Rust producer (`py-peer bench-produce`) streams COUNT items as fast as a
lossless ring lets it; the consumer is either this Python process
(`with c.next() as item: item.seq`, the loop a Python user writes; with
`--data`, `item.data[0]` instead, which makes the item's numpy view) or a
Rust process (`py-peer bench-consume`). Rounds alternate between the two,
so both see the same machine; the medians are compared. Per-item overhead
= 1/python_rate - 1/rust_rate (issue 17's target: at most 2 microseconds).

    python bench/python/consumer_overhead.py [--count N] [--rounds R] [--data] [--json]

Needs the extension built into the running Python (scripts/test does it;
build with `maturin develop --release` for figures worth reporting) and
`DATAHUB_PY_PEER` (or `--peer`) pointing at a release build of py-peer:
`cargo build --release -p datahub-examples --bin py-peer`.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import datahub

SIZES = (64, 4096)


def produce(peer, name, size, count):
    return subprocess.Popen(
        [peer, "bench-produce", name, str(size), str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def python_round(peer, name, size, count, data):
    producer = produce(peer, name, size, count)
    c = datahub.Consumer.attach(name, timeout=30.0)
    with c.next(timeout=30.0) as item:
        item.seq
    start = time.perf_counter()
    if data:
        for _ in range(count - 1):
            with c.next(timeout=30.0) as item:
                item.data[0]
    else:
        for _ in range(count - 1):
            with c.next(timeout=30.0) as item:
                item.seq
    took = time.perf_counter() - start
    c.close()
    _, err = producer.communicate(timeout=60)
    if producer.returncode != 0:
        sys.exit(f"py-peer bench-produce failed: {err}")
    return (count - 1) / took


def rust_round(peer, name, size, count):
    producer = produce(peer, name, size, count)
    out = subprocess.run(
        [peer, "bench-consume", name, str(count)], capture_output=True, text=True, timeout=120
    )
    _, err = producer.communicate(timeout=60)
    if out.returncode != 0 or producer.returncode != 0:
        sys.exit(f"py-peer failed: {out.stderr} {err}")
    # `rate ITEMS_PER_SECOND`
    return float(out.stdout.split()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--peer", default=os.environ.get("DATAHUB_PY_PEER"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--data",
        action="store_true",
        help="also make each item's numpy view and read its first byte (item.data[0])",
    )
    args = parser.parse_args()
    if not args.peer:
        sys.exit("set DATAHUB_PY_PEER or pass --peer (a release build of py-peer)")
    results = {}
    for size in SIZES:
        py, rust = [], []
        for r in range(args.rounds):
            name = f"bench-py-{os.getpid()}-{size}-{r}"
            py.append(python_round(args.peer, name + "p", size, args.count, args.data))
            rust.append(rust_round(args.peer, name + "r", size, args.count))
        py_rate, rust_rate = statistics.median(py), statistics.median(rust)
        results[size] = {
            "python_items_per_s": py_rate,
            "rust_items_per_s": rust_rate,
            "python_us_per_item": 1e6 / py_rate,
            "rust_us_per_item": 1e6 / rust_rate,
            "overhead_us": 1e6 / py_rate - 1e6 / rust_rate,
            "python_runs": py,
            "rust_runs": rust,
        }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'slot':>6} {'python items/s':>15} {'rust items/s':>13} {'python us':>10} "
          f"{'rust us':>8} {'overhead us':>12}")
    for size, r in results.items():
        print(f"{size:>6} {r['python_items_per_s']:>15,.0f} {r['rust_items_per_s']:>13,.0f} "
              f"{r['python_us_per_item']:>10.3f} {r['rust_us_per_item']:>8.3f} "
              f"{r['overhead_us']:>12.3f}")


if __name__ == "__main__":
    main()
