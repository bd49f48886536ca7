"""Benchmark: the data path at VRT-80k scale, on realistic generated records, figures side by side.

Records: 2250x1500 JPEGs of ~1.2 MB (quality 90), ~30 COCO-RLE objects each, VRT-80k layout
(authors' JSON), in 4 TFRecord files. Prints, in one run:
- per process: raw framing + CRC read, Pillow full decode of the same images, JPEG draft-mode check
  (what conversion uses), and conversion (`prepare`, 1 process) in records/s and MB/s;
  conversion / full decode (goal >= 0.7);
- 1 vs 2 processes (goal >= 1.6x; other jobs on the machine depress it: the load before and after
  each run and the CPU time of the launcher and of the workers are printed beside it) and
  a projection for 16 cores / 4 nodes from the per-process figure and the measured efficiency;
- peak RSS per conversion worker (goal < 1.5 GB);
- the same source on a loopback S3 server (moto): local disk used while converting (goal: one
  object at a time, not the dataset);
- ingest of the converted shards from that S3 server by 2 ranks x 2 loader processes (collate =
  Pillow decode of every image): bytes served / dataset bytes (goal <= 1.2), GET requests, time
  to first batch (goal < 2 s) with its breakdown, peak RSS per loader process;
- the same shards through Ray Data `streaming_split` (2 consumers), on the same figures.

    .venv/bin/python benchmarks/data_scale.py [--records 128] [--row-group-size 8]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as cocomask

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout: tests.sft.counting_s3

from vrt.data import tfrecord
from vrt.data.example import encode_example
from vrt.data.prepare import PrepareConfig, prepare
from vrt.data.sources.common import image_size

W, H, OBJECTS, FILES = 2250, 1500, 30, 4


def _images(rng: np.random.Generator, n: int) -> list[bytes]:
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    out = []
    for k in range(n):
        base = np.stack([128 + 100 * np.sin(x / (97 + k) + k), 128 + 100 * np.sin(y / (61 + k)),
                         128 + 80 * np.sin((x + y) / (150 + 3 * k))], -1)
        pixels = (base + rng.normal(0, 12, base.shape)).clip(0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def _masks(rng: np.random.Generator, n: int) -> list[dict]:
    y, x = np.ogrid[0:H, 0:W]
    out = []
    for _ in range(n):
        cx, cy, rx, ry = rng.uniform(0, W), rng.uniform(0, H), rng.uniform(30, 400), rng.uniform(30, 300)
        mask = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1
        rle = cocomask.encode(np.asfortranarray(mask.astype(np.uint8)))
        out.append({"size": [H, W], "counts": rle["counts"].decode("ascii")})
    return out


def generate(root: Path, n: int) -> list[Path]:
    """`n` VRT-80k records (authors' layout) in FILES TFRecord files; images and masks drawn from pools."""
    rng = np.random.default_rng(0)
    images, masks = _images(rng, 8), _masks(rng, 90)
    records = []
    for i in range(n):
        picks = rng.choice(len(masks), OBJECTS, replace=False)
        anns = {f"<obj{j}>": {"segmentation": masks[p], "caption": f"object {j}"} for j, p in enumerate(picks)}
        cand = {"question": f"Which object holds the thing {i}?", "score": 0.9,
                "reasoning": "First <ver><obj0></ver>, then <ver><obj1></ver>.",
                "answer_caption": "It is <vea><obj2></vea>.", "answer_objects": ["<obj2>"]}
        doc = {"generated_ver_data": {"candidates": [cand]}, "original_annotation": {"objects_anns": anns},
               "image_name": f"img_{i:06d}.jpg"}
        records.append(encode_example({"key": f"rec-{i:06d}", "image": images[i % len(images)],
                                       "json": json.dumps(doc)}))
    root.mkdir(parents=True)
    paths = []
    for f in range(FILES):
        path = root / f"ver_training_{f:05d}.tfrecord"
        with open(path, "wb") as out:
            tfrecord.write_records(out, records[f * n // FILES : (f + 1) * n // FILES])
        paths.append(path)
    return paths


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def per_process(paths: list[Path]) -> dict[str, float]:
    """Seconds for a raw framed read, a full decode, and the draft check of every image (one process)."""
    from vrt.data.example import decode_example

    payloads = [r for p in paths for r in tfrecord.iter_records(open(p, "rb"))]  # noqa: SIM115
    images = [decode_example(r)["image"][0] for r in payloads]

    def raw():
        for p in paths:
            with open(p, "rb") as f:
                for _ in tfrecord.iter_records(f):
                    pass

    def full():
        for data in images:
            with Image.open(io.BytesIO(data)) as im:
                im.load()

    return {"raw": _timed(raw), "full": _timed(full), "draft": _timed(lambda: [image_size(d) for d in images]),
            "image_mb": sum(map(len, images)) / 1e6}


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def convert(src: Path, out: Path, workers: int, shard_size: int, rgs: int) -> dict[str, float]:
    """Wall seconds, CPU seconds of this process and of the (reaped) worker processes, load before/after."""
    load, me, kids = os.getloadavg()[0], _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    wall = _timed(lambda: prepare(PrepareConfig("vrt-80k", str(src), str(out), shard_size=shard_size,
                                                row_group_size=rgs, workers=workers)))
    return {"wall": wall, "cpu_self": _cpu(resource.RUSAGE_SELF) - me,
            "cpu_workers": _cpu(resource.RUSAGE_CHILDREN) - kids, "load_before": load,
            "load_after": os.getloadavg()[0]}


def worker_peak_rss_mb(src: Path, out: Path, shard_size: int, rgs: int) -> float:
    """Peak RSS of the largest conversion worker process (2 spawned workers, measured from outside)."""
    code = ("import resource\nfrom vrt.data.prepare import PrepareConfig, prepare\n"
            f"prepare(PrepareConfig('vrt-80k', {str(src)!r}, {str(out)!r}, shard_size={shard_size}, "
            f"row_group_size={rgs}, workers=2))\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    import subprocess

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1]) / 1024


def remote_source(paths: list[Path], s3, shard_size: int, rgs: int) -> dict:
    """Convert from S3 (cache and output on S3); local disk used by the streaming input."""
    import boto3

    from vrt import storage
    from vrt.data import stream

    boto3.client("s3").create_bucket(Bucket="bench")
    for p in paths:
        storage.s3_client().upload_file(str(p), "bench", f"raw/{p.name}")
    peaks = []
    real = stream.RemoteInputs.files

    def spy(self):
        yield from real(self)
        peaks.append(self.peak_disk)

    stream.RemoteInputs.files = spy
    try:
        t = _timed(lambda: prepare(PrepareConfig("vrt-80k", "s3://bench/raw", "s3://bench/ds", shard_size=shard_size,
                                                 row_group_size=rgs, workers=2)))
    finally:
        stream.RemoteInputs.files = real
    return {"seconds": t, "peak_disk_mb": max(peaks) / 1e6, "largest_object_mb": max(p.stat().st_size for p in paths) / 1e6}


STAMPS: dict[str, float] = {}  # per process: when the loader started, seconds spent in each step


def _timed_into(name: str, fn):
    """`fn` that adds its run time to STAMPS[name] (installed before the loaders fork)."""
    def run(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            STAMPS[name] = STAMPS.get(name, 0.0) + time.perf_counter() - t0
    return run


def _decode_collate(samples: list[dict]) -> tuple[list[str], int, dict]:
    t0 = time.perf_counter()
    for s in samples:
        with Image.open(io.BytesIO(s["image"])) as im:
            im.convert("RGB")
    STAMPS["collate"] = time.perf_counter() - t0
    STAMPS["sent"] = time.perf_counter()
    return [s["id"] for s in samples], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, dict(STAMPS)


def ingest_rank(uri: str, rank: int) -> dict:
    """One rank's epoch with 2 loader processes (run in its own process, as a training rank is), with the
    time to its first batch broken down."""
    import torch.utils.data  # noqa: F401 (a training rank has torch loaded before its first batch)

    from components.sft import ingest as ingest_mod
    from vrt.data import rowgroups

    class TimedSource(ingest_mod.MicroBatchSource):
        def __iter__(self):
            STAMPS.clear()
            STAMPS["loader_start"] = time.perf_counter()
            yield from super().__iter__()

    rowgroups.read_range = _timed_into("row_group_get", rowgroups.read_range)
    rowgroups.pq.ParquetFile.read_row_group = _timed_into("decode", rowgroups.pq.ParquetFile.read_row_group)
    t0 = time.perf_counter()
    manifest = ingest_mod.open_dataset(uri)
    t_open = time.perf_counter()
    rows = ingest_mod.RowSource(uri, manifest)
    plan = ingest_mod.StepPlan.for_dataset(rows, 8, 2, 2, seed=0, loaders=2)
    plan.micro_batches(0, rank)  # the epoch's layout, inherited by the loaders
    source = TimedSource(rows, plan, rank, 0, plan.steps_per_epoch, _decode_collate)
    t_plan = time.perf_counter()
    first, ids, rss, parts = 0.0, [], [], {}
    for (batch, peak, stamps), n_real in ingest_mod.micro_batch_loader(source, loader_workers=2):
        if not first:
            now = time.perf_counter()
            first = now - t0
            fetch = stamps.get("row_group_get", 0.0)  # footer and row group reads of this loader
            parts = {"open_dataset": t_open - t0, "plan": t_plan - t_open,
                     "loader_start": stamps["loader_start"] - t_plan, "reads": fetch,
                     "decode": stamps.get("decode", 0.0), "collate": stamps["collate"],
                     "hand_over": now - stamps["sent"]}
            parts["other"] = first - sum(parts.values())
        ids += batch[:n_real]
        rss.append(peak / 1024)
    return {"first": first, "ids": ids, "rss": max(rss), "parts": parts}


def ingest(s3, uri: str) -> dict:
    import subprocess

    from vrt.data.manifest import read_manifest

    manifest = read_manifest(uri)
    dataset = sum(s.bytes for s in manifest.shards)
    s3.reset()
    runs = []
    for rank in (0, 1):
        code = (f"import json, sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\nimport data_scale\n"
                f"print(json.dumps(data_scale.ingest_rank({uri!r}, {rank})))\n")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    ids = [i for r in runs for i in r["ids"]]
    if len(ids) != len(set(ids)) or len(ids) != manifest.counts["written"]:
        raise SystemExit(f"ingest saw {len(ids)} rows ({len(set(ids))} distinct), not {manifest.counts['written']}")
    slowest = max(runs, key=lambda r: r["first"])
    return {"ratio": s3.get_bytes / dataset, "gets": sum(s3.gets.values()), "dataset_mb": dataset / 1e6,
            "first_batch_s": slowest["first"], "parts": slowest["parts"], "loader_rss_mb": max(r["rss"] for r in runs),
            "row_groups": sum(len(s.row_groups) for s in manifest.shards)}


def _peak_tree_rss(stop: threading.Event, out: list[float]) -> None:
    """Poll the RSS of this process's descendants (Ray's workers) until `stop`; appends the largest, MB."""
    import psutil

    peak = 0.0
    while not stop.wait(0.05):
        for p in psutil.Process().children(recursive=True):
            try:
                if "ray::" in " ".join(p.cmdline()):
                    peak = max(peak, p.memory_info().rss / 2**20)
            except psutil.Error:
                pass
    out.append(peak)


def ray_consume(uri: str) -> dict:
    """Ray Data `read_parquet(...).streaming_split(2, equal=True)` over the dataset's shards, 2 consumers
    (threads of this driver, as 2 training ranks would each hold one split) collating with the same Pillow
    decode; run in its own process. Time to first batch (both consumers) and peak RSS (driver, Ray workers)."""
    import pyarrow.fs as pafs
    import ray
    import ray.data

    from vrt.data.manifest import read_manifest

    manifest = read_manifest(uri)
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    fs = pafs.S3FileSystem(endpoint_override=os.environ["AWS_ENDPOINT_URL"].removeprefix("http://"), scheme="http",
                           access_key=os.environ["AWS_ACCESS_KEY_ID"], secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                           region=os.environ["AWS_DEFAULT_REGION"])
    t_init = _timed(lambda: ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                                     object_store_memory=600 * 2**20))
    stop, rss, firsts, ids = threading.Event(), [], {}, []
    poller = threading.Thread(target=_peak_tree_rss, args=(stop, rss))
    poller.start()
    try:
        t0 = time.perf_counter()
        ds = ray.data.read_parquet([f"{bucket}/{key}/{s.path}" for s in manifest.shards], filesystem=fs)
        splits = ds.streaming_split(2, equal=True)

        def consume(k: int) -> None:
            for batch in splits[k].iter_batches(batch_size=2, batch_format="pyarrow"):
                got, _, _ = _decode_collate(batch.to_pylist())
                firsts.setdefault(k, time.perf_counter() - t0)
                ids.extend(got)

        threads = [threading.Thread(target=consume, args=(k,)) for k in range(2)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    finally:
        stop.set()
        poller.join()
        ray.shutdown()
    return {"first_batch_s": max(firsts.values()), "rows": len(ids), "distinct": len(set(ids)),
            "worker_rss_mb": max(rss), "driver_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "init_s": t_init}


def ray_split(s3, uri: str) -> dict:
    """`ray_consume` in its own process, with the bytes the S3 server served to it."""
    import subprocess

    from vrt.data.manifest import read_manifest

    dataset = sum(s.bytes for s in read_manifest(uri).shards)
    s3.reset()
    code = (f"import json, sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\nimport data_scale\n"
            f"print(json.dumps(data_scale.ray_consume({uri!r})))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1]) | {"ratio": s3.get_bytes / dataset,
                                                                "gets": sum(s3.gets.values())}


def _startup() -> tuple[float, float]:
    """Wall and CPU seconds for a 2-process pool to start and import the conversion code (paid once per run)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    kids = _cpu(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_warm, range(2)))
    return time.perf_counter() - t0, _cpu(resource.RUSAGE_CHILDREN) - kids


def _warm(_: int) -> None:
    import pyarrow as pa

    import vrt.data.convert  # noqa: F401

    pa.array(["x"])  # pyarrow imports pandas on first use


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=128)
    parser.add_argument("--row-group-size", type=int, default=8)
    args = parser.parse_args()
    n, rgs = args.records, args.row_group_size
    shard_size = n // 4  # 4 chunks: both processes busy, several row groups per shard
    from tests.sft.counting_s3 import CountingS3

    with tempfile.TemporaryDirectory(prefix="vrt-bench-scale-") as tmp:
        t0 = time.perf_counter()
        paths = generate(Path(tmp, "raw"), n)
        mb = sum(p.stat().st_size for p in paths) / 1e6
        print(f"data: {n} VRT-80k records, {W}x{H} JPEG q90, {OBJECTS} RLE objects each, {mb:.0f} MB in "
              f"{FILES} TFRecords (generated in {time.perf_counter() - t0:.0f} s); shards of {shard_size} rows, "
              f"row groups of {rgs}")
        base = per_process(paths)
        _warm(0)
        startup, startup_cpu = _startup()
        c1 = convert(Path(tmp, "raw"), Path(tmp, "out1"), 1, shard_size, rgs)
        c2 = convert(Path(tmp, "raw"), Path(tmp, "out2"), 2, shard_size, rgs)
        rss = worker_peak_rss_mb(Path(tmp, "raw"), Path(tmp, "out3"), shard_size, rgs)
        with CountingS3() as s3:
            remote = remote_source(paths, s3, shard_size, rgs)
            ing = ingest(s3, "s3://bench/ds")
            try:
                import ray.data  # noqa: F401
            except ImportError as e:
                ray_ing = {"missing": str(e)}
            else:
                ray_ing = ray_split(s3, "s3://bench/ds")
    conversion_report(n, mb, base, c1, c2, (startup, startup_cpu), rss)
    remote_report(n, mb, remote, ing, ray_ing)


def conversion_report(n: int, mb: float, base: dict, c1: dict, c2: dict, start: tuple[float, float],
                      rss: float) -> None:
    """Print the per-process rates, the 1 vs 2 process scaling (wall, load, CPU time) and the projection."""
    rate = {k: n / base[k] for k in ("raw", "full", "draft")}
    one, two = c1["wall"], c2["wall"]
    startup, startup_cpu = start
    conv1, conv2 = n / one, n / two
    steady2 = n / max(two - startup, 1e-9)
    print("\nper process                      records/s      MB/s")
    print(f"  raw read (framing + CRC32C)  {rate['raw']:11.1f} {mb / base['raw']:9.1f}   (TFRecord MB)")
    print(f"  Pillow full decode           {rate['full']:11.1f} {base['image_mb'] / base['full']:9.1f}   (JPEG MB)")
    print(f"  JPEG draft check (used)      {rate['draft']:11.1f} {base['image_mb'] / base['draft']:9.1f}   (JPEG MB)")
    print(f"  conversion, 1 process        {conv1:11.1f} {mb / one:9.1f}   (TFRecord MB)")
    print(f"  conversion / full decode     {conv1 / rate['full']:11.2f}x   goal >= 0.7x")
    eff = steady2 / conv1 / 2
    print(f"\nscaling: 2 processes {conv2:.1f} records/s = {conv2 / conv1:.2f}x of 1 wall-clock; "
          f"{steady2 / conv1:.2f}x without the pool's one-off start ({startup:.1f} s) (goal >= 1.6x)")
    print(f"  load average (1 min): 1 process {c1['load_before']:.1f} before, {c1['load_after']:.1f} after; 2 processes "
          f"{c2['load_before']:.1f} before, {c2['load_after']:.1f} after; {os.cpu_count()} cores (> 2 = other jobs "
          "take CPU: the wall-clock ratio is then not this code's)")
    cpu1, cpu2 = c1["cpu_self"], c2["cpu_workers"]
    print(f"  CPU time (load-independent): 1 process {cpu1:.1f} s; 2 processes {cpu2:.1f} s in the workers, of "
          f"which {startup_cpu:.1f} s is their start (a pool that only imports), + {c2['cpu_self']:.1f} s in the "
          f"launcher: conversion work {(cpu2 - startup_cpu) / cpu1:.2f}x that of 1 process (1.00 = nothing "
          f"repeated); on 2 idle cores 2 processes would be {2 * cpu1 / cpu2:.2f}x with their start, "
          f"{2 * cpu1 / max(cpu2 - startup_cpu, 1e-9):.2f}x once started")
    linear, measured = conv1 * 16, conv1 * 16 * min(eff, 1.0)
    print(f"projection (chunks are independent: no shared state but the input reads): 16 cores = {linear:.0f} "
          f"records/s per node if linear, {measured:.0f} at this run's efficiency {eff:.2f}; 4 nodes = "
          f"{4 * linear:.0f} / {4 * measured:.0f} records/s: VRT-80k (80k records) in "
          f"{80000 / (4 * linear) / 60:.1f} / {80000 / (4 * measured) / 60:.1f} min")
    print(f"peak RSS per conversion worker: {rss:.0f} MB (goal < 1500 MB)")


def remote_report(n: int, mb: float, remote: dict, ing: dict, ray_ing: dict) -> None:
    """Print the remote-source conversion, the ingest figures and Ray Data's on the same shards."""
    print(f"\nremote source (loopback S3, cache + output on S3, 2 processes): {n / remote['seconds']:.1f} records/s; "
          f"local disk used at most {remote['peak_disk_mb']:.0f} MB (= largest object {remote['largest_object_mb']:.0f} MB;"
          f" dataset {mb:.0f} MB)")
    print(f"\ningest, 2 ranks x 2 loader processes from loopback S3 ({ing['dataset_mb']:.0f} MB, {ing['row_groups']} row"
          f" groups): bytes served / dataset = {ing['ratio']:.2f} (goal <= 1.2; whole-shard reads per loader: 4.0), "
          f"{ing['gets']} GETs")
    print(f"  time to first batch {ing['first_batch_s']:.2f} s (goal < 2 s); peak RSS per loader process "
          f"{ing['loader_rss_mb']:.0f} MB")
    print("  first batch, slowest rank: " + ", ".join(f"{k} {v:.2f} s" for k, v in ing["parts"].items()))
    if "missing" in ray_ing:
        print(f"Ray Data streaming_split: not measured ({ray_ing['missing']})")
        return
    r = ray_ing
    print(f"Ray Data read_parquet + streaming_split(2, equal=True), 2 consumers, same shards and collate: bytes "
          f"served / dataset = {r['ratio']:.2f}, {r['gets']} GETs; time to first batch {r['first_batch_s']:.2f} s "
          f"(after ray.init {r['init_s']:.1f} s); peak RSS: Ray worker {r['worker_rss_mb']:.0f} MB, driver "
          f"{r['driver_rss_mb']:.0f} MB; {r['rows']} rows ({r['distinct']} distinct)")


if __name__ == "__main__":
    main()
