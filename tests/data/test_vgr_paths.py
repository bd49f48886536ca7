"""VGR image paths come from data: one that is absolute or climbs out of the folder is quarantined."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from vrt.data.sources import vgr
from vrt.data.sources.common import BadRecord, RawRecord


def _record(image: str) -> dict:
    return {
        "id": "r1",
        "image": image,
        "conversations": [
            {"from": "human", "value": "<image>\nWhere is the cat?"},
            {"from": "gpt", "value": "The cat <sot>[1, 1, 6, 6]<eot>. Final answer: there"},
        ],
    }


@pytest.fixture
def folder(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, format="PNG")
    (tmp_path / "data" / "imgs").mkdir(parents=True)
    (tmp_path / "data" / "imgs" / "a.png").write_bytes(buf.getvalue())
    (tmp_path / "secret.png").write_bytes(buf.getvalue())  # outside the annotation folder
    (tmp_path / "data" / "imgs" / "link.png").symlink_to(tmp_path / "secret.png")
    return tmp_path / "data"


@pytest.mark.parametrize(
    "image",
    [
        "../secret.png",
        "imgs/../../secret.png",
        "/etc/hostname",
        "C:\\\\x.png",
        "imgs\\\\..\\\\..\\\\secret.png",
        "imgs/link.png",
    ],
)
def test_escaping_image_paths_are_quarantined(folder, image):
    with pytest.raises(BadRecord) as err:
        vgr.convert(RawRecord("r1", {"record": _record(image), "root": str(folder)}))
    assert (err.value.reason, err.value.key) == ("bad_image_path", "r1")
    assert repr(image) in err.value.detail


def test_relative_image_inside_the_folder_converts(folder):
    row = vgr.convert(RawRecord("r1", {"record": _record("imgs/a.png"), "root": str(folder)}))
    assert (row["id"], row["width"], row["height"]) == ("r1", 8, 8)
