"""Source converters: one module per raw layout, each turning raw records into canonical samples.

Every module exposes `find_inputs(root) -> list[Path]` (raises UserError when the layout is
not there), `count(paths) -> int | None` (for the progress bar), `iter_raw(paths, root) ->
Iterator[RawRecord]`, `tally(row) -> list[str]` (manifest counters) and `convert(raw) -> dict` (a
canonical sample, or `BadRecord` with a quarantine reason).
"""

from __future__ import annotations

from types import ModuleType


def converter(source: str) -> ModuleType:
    """The converter module of a source name (vrt-80k, vrt-bench, reasonseg, vgr)."""
    from vrt.data.sources import reasonseg, vgr, vrt80k, vrt_bench

    modules = {"vrt-80k": vrt80k, "vrt-bench": vrt_bench, "reasonseg": reasonseg, "vgr": vgr}
    if source not in modules:
        raise ValueError(f"unknown source {source!r}: use one of {', '.join(modules)}")
    return modules[source]
