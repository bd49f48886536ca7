"""Lookups in a compiled pipeline spec by display name: KFP numbers tasks of one component in creation
order (prepare-dataset, prepare-dataset-2, ...), so a key depends on which optional tasks exist."""

from __future__ import annotations

DATA_TASKS = ("dataset: train", "dataset: train vgr", "dataset: vrt-bench", "dataset: reasonseg")
BENCH_TASKS = ("evaluate: predict vrt-bench", "evaluate: score vrt-bench", "evaluate: predict reasonseg",
               "evaluate: score reasonseg")


def task_keys(spec: dict) -> dict[str, str]:
    """Task key of each display name (e.g. "dataset: reasonseg" -> "prepare-dataset-4")."""
    keys = {task["taskInfo"]["name"]: key for key, task in spec["root"]["dag"]["tasks"].items()}
    assert len(keys) == len(spec["root"]["dag"]["tasks"]), "two tasks share a display name"
    return keys


def task_of(spec: dict, display: str) -> dict:
    """The task whose display name is `display`."""
    return spec["root"]["dag"]["tasks"][task_keys(spec)[display]]


def executor_of(spec: dict, display: str) -> str:
    """The executor label (exec-...) of the task named `display`."""
    return spec["components"][task_of(spec, display)["componentRef"]["name"]]["executorLabel"]


def producer(spec: dict, display: str, artifact: str) -> str:
    """Display name of the task producing input artifact `artifact` of the task named `display`."""
    key = task_of(spec, display)["inputs"]["artifacts"][artifact]["taskOutputArtifact"]["producerTask"]
    return spec["root"]["dag"]["tasks"][key]["taskInfo"]["name"]
