"""Model-server robustness figures: malformed kinds, a near-valid fuzz, mixed load, memory, health latency.

    .venv/bin/python benchmarks/serve_robustness.py                  # tiny preset, random init (seed 0)
    .venv/bin/python benchmarks/serve_robustness.py --fuzz 800 --seconds 30 --clients 8

Two servers on loopback (components.deploy.local), both the tiny preset:
1. the test limits of tests/deploy/test_server_hostile.py: every kind of tests/deploy/hostile.py's
   malformed-request table, a hypothesis fuzz of near-valid requests, then good clients alone and
   good clients with attackers sending bad requests (2 per second each) mixed in;
2. the default limits (8 MiB images, 4096^2 pixels, 768 MiB pixel budget): 4 clients x 8 images of
   4096^2 (refused from the header) and of 1024^2 with overlays (the preset's largest), peak RSS above
   idle; then the p95 of health checks while overlay requests render.
Prints kinds tried, fuzz requests, 5xx count (goal 0), good-request failures under mixed load
(goal 0), good p50/p95 with and without bad requests, peak RSS above idle (goal <= 2 GB), health
p95 while overlays render (goal <= 20 ms).
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "deploy"))
import hostile  # the malformed-request table and strategies the tests use

TEST_ARGS = (
    *("--max_image_bytes", "200000", "--max_pixels", str(1024 * 1024), "--max_question_chars", "50"),
    *(
        "--max_batch",
        "8",
        "--max_new_tokens",
        "4",
        "--pixel_budget_bytes",
        str(32 << 20),
        "--budget_wait_s",
        "1",
    ),
    *("--max_header_bytes", "4096", "--header_timeout_s", "2", "--body_timeout_s", "2"),
)
GOOD = hostile.v1([{"image_b64": hostile.png_b64((40, 30), (200, 10, 10)), "question": "where is it?"}])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kinds_and_fuzz(url: str, n_fuzz: int) -> tuple[int, int, int]:
    """(kinds tried, fuzz requests sent, 5xx responses over both)."""
    from hypothesis import HealthCheck, given, settings

    statuses = [hostile.send(url, request)[0] for _, request, _, _ in hostile.kinds(4096)]
    kinds = len(statuses)

    @settings(
        max_examples=n_fuzz,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(hostile.near_valid())
    def fuzz(request):
        statuses.append(hostile.send(url, request)[0])

    fuzz()
    return kinds, len(statuses) - kinds, sum(s >= 500 for s in statuses)


def load(url: str, clients: int, seconds: float, attackers: int) -> tuple[list[float], int, int]:
    """(good latencies ms, good failures, bad requests sent) with `clients` good clients for `seconds`."""
    bad = [k[1] for k in hostile.kinds(4096) if k[2] in (400, 413)]
    stop = threading.Event()

    def attacker(offset: int) -> int:
        sent = 0
        while not stop.is_set():
            hostile.send(url, bad[(offset + sent) % len(bad)])
            sent += 1
            stop.wait(0.5)
        return sent

    def client(_: int) -> tuple[list[float], int]:
        latencies, failures = [], 0
        while not stop.is_set():
            start = time.perf_counter()
            status = hostile.send(url, GOOD)[0]
            latencies.append((time.perf_counter() - start) * 1000)
            failures += status != 200
        return latencies, failures

    with ThreadPoolExecutor(clients + attackers) as pool:
        attacks = [pool.submit(attacker, 7 * i) for i in range(attackers)]
        goods = [pool.submit(client, i) for i in range(clients)]
        time.sleep(seconds)
        stop.set()
        results = [g.result() for g in goods]
        sent_bad = sum(a.result() for a in attacks)
    return [ms for lat, _ in results for ms in lat], sum(f for _, f in results), sent_bad


def rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def memory_and_health(url: str, pid: int) -> tuple[float, list[int], float]:
    """(peak RSS above idle in GB, statuses of the attack, health p95 ms while overlays render)."""
    big = hostile.v1([{"image_b64": hostile.png_b64((4096, 4096)), "question": "q"}] * 8)
    large = hostile.v1(
        [{"image_b64": hostile.png_b64((1024, 1024), (5, 50, 90)), "question": "q", "overlay": True}] * 8
    )
    hostile.send(url, large)  # warm-up at this size
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    idle = rss_kb(pid, "VmRSS")
    with ThreadPoolExecutor(8) as pool:
        statuses = [s for s, _, _ in pool.map(lambda r: hostile.send(url, r), [big] * 4 + [large] * 4)]
    peak_gb = (rss_kb(pid, "VmHWM") - idle) / 1024**2
    overlay = hostile.v1(
        [{"image_b64": hostile.png_b64((1024, 1024), (5, 50, 90)), "question": "q", "overlay": True}]
    )
    health = hostile.Raw("GET", "/v2/health/live")
    stop = threading.Event()

    def render() -> None:
        while not stop.is_set():
            hostile.send(url, overlay)

    threads = [threading.Thread(target=render) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    checks = []
    for _ in range(100):
        start = time.perf_counter()
        hostile.send(url, health)
        checks.append((time.perf_counter() - start) * 1000)
        time.sleep(0.02)
    stop.set()
    for t in threads:
        t.join()
    return peak_gb, statuses, percentile(checks, 0.95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz", type=int, default=300, help="near-valid fuzz requests")
    parser.add_argument("--clients", type=int, default=4, help="good clients under load")
    parser.add_argument("--attackers", type=int, default=2, help="clients sending 2 bad requests/s each")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each load phase")
    args = parser.parse_args()
    from components.deploy.local import start_local
    from models import RSa2VA, load_preset

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "tiny"
        RSa2VA.from_preset(load_preset("tiny"), seed=0).save_pretrained(model_dir)
        server = start_local(str(model_dir), free_port(), name="tiny", extra_args=TEST_ARGS)
        try:
            kinds, fuzzed, errors = kinds_and_fuzz(server.url, args.fuzz)
            alone, alone_failures, _ = load(server.url, args.clients, args.seconds, 0)
            mixed, mixed_failures, sent_bad = load(server.url, args.clients, args.seconds, args.attackers)
        finally:
            server.stop()
        server = start_local(str(model_dir), free_port(), name="tiny", extra_args=("--max_new_tokens", "4"))
        try:
            peak_gb, statuses, health_p95 = memory_and_health(server.url, server.process.pid)
        finally:
            server.stop()
    print(f"malformed kinds tried            {kinds}")
    print(f"near-valid fuzz requests         {fuzzed}")
    print(f"5xx responses (kinds + fuzz)     {errors}   (goal 0)")
    print(
        f"good requests alone              {len(alone)}  p50 {percentile(alone, 0.5):.1f} ms  "
        f"p95 {percentile(alone, 0.95):.1f} ms  failures {alone_failures}"
    )
    print(
        f"good requests with bad mixed in  {len(mixed)}  p50 {percentile(mixed, 0.5):.1f} ms  "
        f"p95 {percentile(mixed, 0.95):.1f} ms  failures {mixed_failures}   (goal 0; {sent_bad} bad requests sent)"
    )
    print(f"large-image attack statuses      {sorted(statuses)}")
    print(f"peak RSS above idle              {peak_gb:.2f} GB   (goal <= 2 GB at the default limits)")
    print(f"health p95 while overlays render {health_p95:.1f} ms   (goal <= 20 ms)")


if __name__ == "__main__":
    main()
