"""Serving benchmark: endpoint latency vs in-process `predict` on the same inputs, and throughput vs clients.

    .venv/bin/python benchmarks/serve_latency.py                       # tiny preset, random init (seed 0)
    .venv/bin/python benchmarks/serve_latency.py --model DIR --requests 50 --max-new-tokens 32

Prints p50/p95 of in-process `RSa2VA.predict` and of the v1 endpoint (one client), measured
interleaved (one call of each in turn, so load drift on a shared machine hits both alike), their
ratio, the server-side model time (`timings.predict_ms`), and requests/s with 1, 4 and 8
concurrent clients (the server merges queued requests into one model call). The server runs as
a subprocess on loopback (`components.deploy.local`). Both sides use `--threads` torch threads.
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

from components.deploy.payload import Limits, decode_image, parse_v1
from components.deploy.smoke import QUESTION, post_json, sample_image_b64


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed_request(url: str, body: dict) -> tuple[float, dict]:
    """(client latency ms, server timings) of one request."""
    start = time.perf_counter()
    status, out = post_json(url, body)
    elapsed = (time.perf_counter() - start) * 1000
    if status != 200:
        raise RuntimeError(f"benchmark request failed with HTTP {status}: {out}")
    return elapsed, out["predictions"][0]["timings"]


def interleaved(model, url: str, body: dict, n: int, max_new_tokens: int) -> tuple[list, list, list]:
    """n rounds of (in-process predict, endpoint request) after 2 warm-up rounds: ms lists."""
    [query] = parse_v1(body, Limits())
    image = decode_image(query)
    local, remote, server_model = [], [], []
    for i in range(n + 2):
        start = time.perf_counter()
        model.predict([image], [query.question], max_new_tokens=max_new_tokens, do_sample=False)
        local_ms = (time.perf_counter() - start) * 1000
        remote_ms, timings = timed_request(url, body)
        if i >= 2:
            local.append(local_ms)
            remote.append(remote_ms)
            server_model.append(timings["predict_ms"])
    return local, remote, server_model


def throughput(url: str, body: dict, clients: int, per_client: int) -> tuple[float, float, float]:
    """(requests/s, p50 ms, mean items per model call) with `clients` threads sending `per_client` requests."""

    def client(_: int) -> list[tuple[float, dict]]:
        return [timed_request(url, body) for _ in range(per_client)]

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = [r for rs in pool.map(client, range(clients)) for r in rs]
    elapsed = time.perf_counter() - start
    batch = statistics.mean(t["batch_items"] for _, t in results)
    return len(results) / elapsed, statistics.median(ms for ms, _ in results), batch


def report(args, model_dir: Path, url: str, body: dict) -> None:
    from models import RSa2VA

    model = RSa2VA.from_pretrained(model_dir)
    local, remote, server_model = interleaved(model, url, body, args.requests, args.max_new_tokens)
    print(
        f"model: {model_dir}  max_new_tokens={args.max_new_tokens}  requests={args.requests}  threads={args.threads}"
    )
    print(f"in-process predict   p50 {percentile(local, 0.5):8.1f} ms  p95 {percentile(local, 0.95):8.1f} ms")
    print(
        f"v1 endpoint          p50 {percentile(remote, 0.5):8.1f} ms  p95 {percentile(remote, 0.95):8.1f} ms"
    )
    print(
        f"  of which model     p50 {percentile(server_model, 0.5):8.1f} ms (server-side timings.predict_ms)"
    )
    print(
        f"overhead ratio endpoint/in-process: p50 {percentile(remote, 0.5) / percentile(local, 0.5):.2f}  "
        f"p95 {percentile(remote, 0.95) / percentile(local, 0.95):.2f}"
    )
    for clients in (1, 4, 8):
        rps, p50, batch = throughput(url, body, clients, max(3, 2 * args.requests // clients))
        print(
            f"{clients} concurrent client(s): {rps:6.2f} req/s  p50 {p50:8.1f} ms  mean items/model call {batch:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="saved model directory (default: tiny preset, seed 0)")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per measurement")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in-process and in the server")
    args = parser.parse_args()
    import torch

    from components.deploy.local import start_local

    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model
        if model_dir is None:
            from models import RSa2VA, load_preset

            model_dir = Path(tmp) / "tiny"
            RSa2VA.from_preset(load_preset("tiny"), seed=0).save_pretrained(model_dir)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = start_local(
            str(model_dir), port, name="bench", extra_args=("--max_new_tokens", str(args.max_new_tokens))
        )
        try:
            body = {"instances": [{"image_b64": sample_image_b64(), "question": QUESTION}]}
            report(args, model_dir, f"{server.url}/v1/models/bench:predict", body)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
