"""GPU placement forwarded by the pipeline: a KFP TaskConfig -> `gpu.*` overrides of the preset.

The pipeline sets accelerator, node selector and tolerations on the sft/grpo tasks; those
components declare them as task-config passthroughs (not applied to their own pod, which is a
small CPU launcher) and hand them to the RayJob's GPU worker group through these overrides.
Locally the TaskConfig is empty and nothing changes.
"""

from __future__ import annotations

import json
from typing import Any

PASSTHROUGH_FIELDS = ("RESOURCES", "KUBERNETES_NODE_SELECTOR", "KUBERNETES_TOLERATIONS")
NON_ACCELERATORS = {"cpu", "memory", "ephemeral-storage"}


def gpu_overrides(task_config: Any) -> list[str]:
    """`gpu.resource/count/node_selector/tolerations=...` from a TaskConfig (empty when it carries none)."""
    if task_config is None:
        return []
    out: list[str] = []
    limits = (getattr(task_config, "resources", None) or {}).get("limits") or {}
    accelerators = {k: v for k, v in limits.items() if k not in NON_ACCELERATORS}
    if len(accelerators) > 1:
        raise ValueError(f"task config asks for several accelerator kinds {sorted(accelerators)}: set one")
    for resource, count in accelerators.items():
        out += [f"gpu.resource={resource}", f"gpu.count={int(count)}"]
    if node_selector := getattr(task_config, "node_selector", None):
        out.append(f"gpu.node_selector={json.dumps(node_selector, sort_keys=True)}")
    if tolerations := getattr(task_config, "tolerations", None):
        out.append(f"gpu.tolerations={json.dumps(tolerations, sort_keys=True)}")
    return out
