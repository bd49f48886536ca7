"""Serving benchmark: endpoint latency vs in-process `predict` on the same inputs, and throughput vs clients.

    .venv/bin/python benchmarks/serve_latency.py                       # tiny preset, random init (seed 0)
    .venv/bin/python benchmarks/serve_latency.py --model DIR --requests 50 --max-new-tokens 32

Prints p50/p95 of in-process `RSa2VA.predict` and of the v1 endpoint (one client), their ratio
(the serving overhead: HTTP, JSON, base64, PNG decode, response shaping), and requests/s with
1, 4 and 8 concurrent clients. The server runs as a subprocess on loopback (`components.deploy.local`).
Both sides use `--threads` torch threads (default 1: on a shared, oversubscribed CPU more threads
make every call slower and the numbers noisy).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from components.deploy.payload import Limits, parse_v1
from components.deploy.smoke import QUESTION, post_json, sample_image_b64


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def in_process_ms(model_dir: Path, body: dict, n: int, max_new_tokens: int) -> list[float]:
    """Latencies of RSa2VA.predict on the decoded request (after 2 warm-up calls)."""
    from models import RSa2VA

    model = RSa2VA.from_pretrained(model_dir)
    [query] = parse_v1(body, Limits())
    times = []
    for i in range(n + 2):
        start = time.perf_counter()
        model.predict([query.image], [query.question], max_new_tokens=max_new_tokens, do_sample=False)
        if i >= 2:
            times.append((time.perf_counter() - start) * 1000)
    return times


def endpoint_ms(url: str, body: dict, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        status, _ = post_json(url, body)
        if status != 200:
            raise RuntimeError(f"benchmark request failed with HTTP {status}")
        times.append((time.perf_counter() - start) * 1000)
    return times


def throughput(url: str, body: dict, clients: int, per_client: int) -> tuple[float, float]:
    """(requests/s, p50 ms) with `clients` threads each sending `per_client` requests."""
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        lists = list(pool.map(lambda _: endpoint_ms(url, body, per_client), range(clients)))
    elapsed = time.perf_counter() - start
    flat = [t for times in lists for t in times]
    return len(flat) / elapsed, statistics.median(flat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="saved model directory (default: tiny preset, seed 0)")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per measurement")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in-process and in the server")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    from components.deploy.local import start_local

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model
        if model_dir is None:
            from models import RSa2VA, load_preset

            model_dir = Path(tmp) / "tiny"
            RSa2VA.from_preset(load_preset("tiny"), seed=0).save_pretrained(model_dir)
        body = {"instances": [{"image_b64": sample_image_b64(), "question": QUESTION}]}
        local = in_process_ms(model_dir, body, args.requests, args.max_new_tokens)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = start_local(
            str(model_dir), port, name="bench", extra_args=("--max_new_tokens", str(args.max_new_tokens))
        )
        try:
            url = f"{server.url}/v1/models/bench:predict"
            endpoint_ms(url, body, 2)
            remote = endpoint_ms(url, body, args.requests)
            print(
                f"model: {model_dir}  max_new_tokens={args.max_new_tokens}  requests={args.requests}  "
                f"threads={args.threads}"
            )
            print(
                f"in-process predict  p50 {percentile(local, 0.5):8.1f} ms  p95 {percentile(local, 0.95):8.1f} ms"
            )
            print(
                f"v1 endpoint         p50 {percentile(remote, 0.5):8.1f} ms  p95 {percentile(remote, 0.95):8.1f} ms"
            )
            print(
                f"overhead ratio (endpoint/in-process, p50): {percentile(remote, 0.5) / percentile(local, 0.5):.2f}"
            )
            for clients in (1, 4, 8):
                rps, p50 = throughput(url, body, clients, max(2, args.requests // clients))
                print(f"{clients} concurrent client(s): {rps:6.2f} req/s  p50 {p50:8.1f} ms")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
