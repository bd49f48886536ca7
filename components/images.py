"""Container images of the pipeline steps (infra/images/*): `<registry>/<name>:<tag>`.

The registry prefix comes from `VRT_IMAGE_REGISTRY` at compile time (empty: the images are
looked up by bare name, as in a local or mirrored setup); the tag from `VRT_IMAGE_TAG`
(default: this package's version).
"""

from __future__ import annotations

import os

from vrt import __version__


def image(name: str) -> str:
    """Fully qualified image reference for `name` (vrt-base, vrt-train, vrt-serve)."""
    registry = os.environ.get("VRT_IMAGE_REGISTRY", "").rstrip("/")
    tag = os.environ.get("VRT_IMAGE_TAG", __version__)
    return f"{registry}/{name}:{tag}" if registry else f"{name}:{tag}"


BASE_IMAGE = image("vrt-base")
TRAIN_IMAGE = image("vrt-train")
SERVE_IMAGE = image("vrt-serve")
