"""`vrt data ...` commands: generate raw data, convert sources to the canonical dataset, inspect it."""

from __future__ import annotations

import typer

from vrt.errors import UserError

app = typer.Typer(help="Generate, convert and inspect datasets.", no_args_is_help=True)
MAX_SYNTH_IMAGE_SIZE = 4096  # generated images are drawn in memory: 4096^2 RGB is 48 MiB each


@app.command()
def synth(
    out: str = typer.Option(..., "--out", help="Folder or s3://BUCKET/PREFIX for the raw source layouts."),
    n_train: int = typer.Option(200, "--n-train", min=1, help="VRT-80k records (VGR gets half as many)."),
    n_bench: int = typer.Option(40, "--n-bench", min=1, help="VRT-Bench and ReasonSeg records."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same bytes."),
    image_size: int = typer.Option(
        128, "--image-size", max=MAX_SYNTH_IMAGE_SIZE, help="Square image side in pixels (32-4096)."
    ),
) -> None:
    """Write a deterministic generated dataset in the four real source layouts.

    Example: vrt data synth --out data/raw --n-train 200 --n-bench 40 --seed 0
    """
    from vrt.console import console
    from vrt.data.synth import synthesize_to

    try:
        counts = synthesize_to(out, n_train, n_bench, seed, image_size)
    except ValueError as e:
        raise UserError(f"{e}: fix the option") from e
    console.print(f"wrote {out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@app.command()
def prepare(
    source: str = typer.Option(..., "--source", help="vrt-80k, vrt-bench, reasonseg or vgr."),
    from_uri: str = typer.Option(..., "--from", help="Local path, s3://BUCKET/PREFIX or hf://datasets/NAME."),
    out: str = typer.Option(..., "--out", help="Dataset folder or s3://BUCKET/PREFIX."),
    revision: str = typer.Option(
        "", "--revision", help="Pinned source revision (commit sha; required for hf://)."
    ),
    shard_size: int = typer.Option(1000, "--shard-size", help="Input records per Parquet shard."),
    cache: str = typer.Option("", "--cache", help="Raw-file cache (default: raw-cache beside --out)."),
    row_group_size: int = typer.Option(32, "--row-group-size", help="Rows per Parquet row group."),
    workers: int = typer.Option(0, "--workers", help="Conversion processes (0 = the cores available)."),
    executor: str = typer.Option("local", "--executor", help="local (process pool) or ray (Ray tasks)."),
) -> None:
    """Convert one raw source into canonical Parquet shards + manifest.json (resumable).

    A remote --from (s3:// or hf://) is read file by file as conversion
    reaches it, through the raw cache (a cached file is not fetched again).
    Local disk, whatever the dataset size: one input file (a TFRecord object,
    a Parquet file, or a VGR annotation file, fetched whole before its
    records) plus one image per worker (VGR), plus the cache when --cache
    is a local folder.

    Example: vrt data prepare --source vrt-bench --from data/raw/vrt-bench --out data/vrt-bench
    """
    from vrt.console import console
    from vrt.data.prepare import PrepareConfig
    from vrt.data.prepare import prepare as run

    try:
        cfg = PrepareConfig(source, from_uri, out, revision, shard_size, cache, row_group_size, workers, executor)
    except ValueError as e:
        raise UserError(f"{e}: fix the option") from e
    m = run(cfg)
    c = m.counts
    reasons = ", ".join(f"{k} {v}" for k, v in m.quarantine_reasons.items()) or "none"
    console.print(
        f"published {out}: input {c['input']}, written {c['written']}, quarantined {c['quarantined']} ({reasons}); "
        f"{len(m.shards)} shards"
    )


@app.command()
def inspect(
    uri: str = typer.Argument(..., help="Published dataset folder or s3:// prefix."),
    samples: int = typer.Option(3, "--samples", help="Rows to print."),
    render: int = typer.Option(
        0, "--render", help="Write PNGs of the first N samples (masks, ids) to --out."
    ),
    out: str = typer.Option("", "--out", help="Folder for the --render pictures."),
) -> None:
    """Print a dataset's manifest summary and sample rows; optionally render samples as pictures.

    Example: vrt data inspect data/vrt-bench --render 4 --out out/pictures
    """
    from vrt.data.inspect import describe, render_samples

    if render and not out:
        raise UserError("--render needs --out DIR for the pictures")
    typer.echo("\n".join(describe(uri, samples)))
    if render:
        for path in render_samples(uri, render, out):
            typer.echo(f"wrote {path}")
