"""Size and load time of the presets the zoo ships.

For every preset in `models/*/preset/` (or those named with `--presets`):
its size on disk, the time to check its SHA-256 sums, and the time to load
it with `keras_ssl.backbones.Backbone.from_preset(name)` (checksums
included) and with `keras_hub.models.Backbone.from_preset(folder)`. Each
load is timed `--repeats` times in this process after one warm-up load (the
first load of a class also pays for TensorFlow's function tracing); the
table gives the median and the best.

    python benchmarks/presets.py
    python benchmarks/presets.py --presets simclr_resnet18_fashion_mnist --repeats 3

Prints a table and writes it as JSON (`--out`).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _timed(function, repeats):
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def measure(names, repeats):
    sys.path.insert(0, os.path.join(HERE, ".."))
    import keras_hub

    import keras_ssl
    from keras_ssl import presets

    rows = []
    for name in names:
        path = presets.resolve(name, verify=False)
        expected = presets.expected_checksums(name)
        verify = _timed(lambda: presets.verify(path, expected), repeats)
        ssl_load = _timed(lambda: keras_ssl.backbones.Backbone.from_preset(name), repeats)
        hub_load = _timed(lambda: keras_hub.models.Backbone.from_preset(path), repeats)
        manifest = presets.read_manifest(path)
        rows.append({
            "preset": name,
            "class_name": manifest["class_name"],
            "parameters": manifest["parameters"],
            "size_mb": presets.folder_size(path) / 2**20,
            "verify_seconds": verify,
            "keras_ssl_load_seconds": ssl_load,
            "keras_hub_load_seconds": hub_load,
        })
    return rows


def print_table(rows):
    print("| preset | encoder | parameters | size | verify SHA-256 (median / best) "
          "| `Backbone.from_preset(name)` | `keras_hub.models.Backbone.from_preset(dir)` |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        def pair(key):
            median, best = r[key]
            return f"{median * 1000:.0f} / {best * 1000:.0f} ms"

        print(f"| {r['preset']} | {r['class_name']} | {r['parameters']:,} "
              f"| {r['size_mb']:.1f} MB | {pair('verify_seconds')} "
              f"| {pair('keras_ssl_load_seconds')} | {pair('keras_hub_load_seconds')} |")
    total = sum(r["size_mb"] for r in rows)
    print(f"\n{len(rows)} presets, {total:.1f} MB in all.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=None,
                        help="preset names (default: every shipped preset)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "presets.json"))
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    sys.path.insert(0, os.path.join(HERE, ".."))
    from keras_ssl import presets

    names = args.presets or presets.names()
    unknown = sorted(set(names) - set(presets.names()))
    if unknown:
        parser.error(f"unknown preset(s) {unknown}; shipped: {presets.names()}")
    if not names:
        parser.error("no presets are shipped yet (run keras-ssl zoo run NAME)")
    rows = measure(names, args.repeats)
    print_table(rows)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"machine": {"cpu_count": os.cpu_count(), "machine": platform.machine()},
                   "repeats": args.repeats, "rows": rows}, f, indent=2)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
