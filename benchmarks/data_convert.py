"""Benchmark: VRT-80k conversion throughput next to a raw read of the same TFRecord bytes.

Generates N records in the VRT-80k layout, then times (1) a raw framed read with CRC checks
(`vrt.data.tfrecord`) and (2) the full `prepare` (decode Example + JSON, decode image, validate
RLE, write Parquet shards + manifest). Prints records/s, MB/s (of TFRecord input) and the ratio.

    .venv/bin/python benchmarks/data_convert.py [--records 2000] [--image-size 128]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from vrt.data import tfrecord
from vrt.data.prepare import PrepareConfig, prepare
from vrt.data.synth.layouts import write_vrt80k


def raw_read(paths: list[Path]) -> tuple[int, int]:
    """(records, damaged records) of a framed read with CRC checks."""
    n = damaged = 0
    for path in paths:
        with open(path, "rb") as f:
            for item in tfrecord.iter_records(f):
                n += 1
                damaged += isinstance(item, tfrecord.RecordError)
    return n, damaged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=128)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vrt-bench-convert-") as tmp:
        raw = Path(tmp, "vrt-80k")
        t0 = time.perf_counter()
        write_vrt80k(raw, seed=0, n=args.records, size=args.image_size)
        gen_s = time.perf_counter() - t0
        paths = sorted(raw.glob("*.tfrecord"))
        mb = sum(p.stat().st_size for p in paths) / 1e6

        t0 = time.perf_counter()
        n_raw, damaged = raw_read(paths)
        raw_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        m = prepare(PrepareConfig("vrt-80k", str(raw), str(Path(tmp, "out")), shard_size=500))
        conv_s = time.perf_counter() - t0
    if damaged or not n_raw == m.counts["input"] == m.counts["written"] == args.records:
        raise SystemExit(
            f"benchmark data is inconsistent: {n_raw} read, {damaged} damaged, counts {m.counts}"
        )
    print(
        f"data: {args.records} VRT-80k records, {args.image_size}px JPEG, {mb:.1f} MB of TFRecords (generated in {gen_s:.1f} s)"
    )
    print(f"raw read (framing + CRC32C):  {n_raw / raw_s:10.0f} records/s  {mb / raw_s:8.1f} MB/s")
    print(f"conversion (prepare, 1 core): {args.records / conv_s:10.0f} records/s  {mb / conv_s:8.1f} MB/s")
    print(f"ratio raw read / conversion:  {conv_s / raw_s:10.1f}x")


if __name__ == "__main__":
    main()
