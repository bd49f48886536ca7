"""`vrt model ...` commands: model facts (`info`); registry commands live in their own module.

vrt model info --preset tiny
vrt model info --preset 4b --json
"""

from __future__ import annotations

import typer

from vrt.errors import UserError

app = typer.Typer(help="Model presets and registered models.", no_args_is_help=True)


def _human(n: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


@app.command()
def info(
    preset: str = typer.Option(
        "tiny", "--preset", help="Model preset: tiny, 2b, 4b, 8b (or a preset YAML path)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Print parameter counts per tower (total / trainable under the preset's freezing and LoRA policy).

    Counted on the meta device: no weights are allocated or downloaded.

    Example: vrt model info --preset 4b
    """
    import json

    from rich.console import Console
    from rich.table import Table

    from models.config import load_preset
    from models.params import count_parameters

    try:
        spec = load_preset(preset)
    except ValueError as e:
        raise UserError(str(e)) from e
    counts = count_parameters(spec)
    total = sum(c.total for c in counts)
    trainable = sum(c.trainable for c in counts)
    if as_json:
        towers = {c.name: {"total": c.total, "trainable": c.trainable} for c in counts}
        typer.echo(
            json.dumps({"preset": spec.name, "towers": towers, "total": total, "trainable": trainable})
        )
        return
    table = Table(title=f"R-Sa2VA preset {spec.name} ({spec.init} init)")
    for column in ("tower", "total", "trainable", "params", "trainable params"):
        table.add_column(column, justify="left" if column == "tower" else "right")
    for c in counts + [type(counts[0])("all", total, trainable)]:
        table.add_row(c.name, _human(c.total), _human(c.trainable), f"{c.total:,}", f"{c.trainable:,}")
    Console().print(table)
