"""What a local pipeline run produced, printed as tables at the end of `vrt pipeline run --local`."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from pipelines.local import LocalRun
from vrt import storage
from vrt.data.manifest import read_manifest


def dataset_table(run: LocalRun) -> Table:
    table = Table(title="Datasets")
    table.caption = storage.join(run.work_uri, "datasets")
    for col in ("dataset", "source", "input", "written", "quarantined", "shards"):
        table.add_column(col)
    for name in ("train", "bench"):
        uri = storage.join(run.work_uri, "datasets", name)
        m = read_manifest(uri)
        c = m.counts
        table.add_row(name, m.source, str(c["input"]), str(c["written"]), str(c["quarantined"]), str(len(m.shards)))
    return table


def print_summary(run: LocalRun) -> None:
    console = Console()
    console.print(dataset_table(run))
    console.print(f"MLflow run: {run.mlflow_run_id}   pipeline root: {run.pipeline_root}")
    console.print(f"[bold green]pipeline finished in {run.seconds:.0f} s[/bold green]")
