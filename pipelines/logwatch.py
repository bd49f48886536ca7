"""Quiet local runs: the steps' logs go to a file; the terminal shows one line per step.

kfp.local prints every executor's input and output JSON; that belongs in a log file, with the
terminal showing `▶ step` / `✓ step (12 s)` and, on failure, where the full log is.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

ANSI = re.compile(r"\x1b\[[0-9;]*m")
STARTED = re.compile(r"Executing task '([^']+)'")
FINISHED = re.compile(r"Task '([^']+)' finished with status (\w+)")


def step_events(line: str) -> tuple[str, str] | None:
    """('start', task) or ('SUCCESS'|'FAILURE', task) for a kfp.local log line, else None."""
    line = ANSI.sub("", line)
    if m := STARTED.search(line):
        return "start", m.group(1)
    if m := FINISHED.search(line):
        return m.group(2), m.group(1)
    return None


def _follow(path: Path, out: TextIO, stop: threading.Event) -> None:
    started: dict[str, float] = {}
    with open(path, errors="replace") as f:
        while True:
            line = f.readline()
            if not line:
                if stop.is_set():
                    return
                time.sleep(0.2)
                continue
            event = step_events(line)
            if event is None:
                continue
            kind, task = event
            if kind == "start":
                started[task] = time.monotonic()
                out.write(f"  ▶ {task}\n")
            else:
                took = time.monotonic() - started.get(task, time.monotonic())
                mark = "✓" if kind == "SUCCESS" else "✗"
                out.write(f"  {mark} {task} ({took:.0f} s)\n")
            out.flush()


@contextmanager
def quiet_steps(log_path: Path) -> Iterator[None]:
    """Send fds 1 and 2 to `log_path` while showing step progress on the real stderr."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved_err), "w", encoding="utf-8")
    stop = threading.Event()
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        watcher = threading.Thread(target=_follow, args=(log_path, terminal, stop), daemon=True)
        watcher.start()
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            stop.set()
            watcher.join(timeout=5)
            terminal.close()
