"""Canonical sample schema (version 1) shared by every source and every step.

One row per sample, stored as Parquet shards beside a `manifest.json`:

| column        | type                                  | meaning                                              |
| ------------- | ------------------------------------- | ---------------------------------------------------- |
| id            | string                                | the source's own key (VRT `key`, ReasonSeg `image_id`+`ann_id`, VGR record id) |
| source        | string                                | vrt-80k, vrt-bench, reasonseg, vgr                   |
| image         | binary                                | encoded image bytes (JPEG or PNG), as in the source  |
| width, height | int32                                 | image size in pixels                                 |
| question      | string                                | the question, never empty                            |
| objects       | list<struct{id, caption, rle, box}>   | the object pool: `rle` is COCO RLE counts (string, size = image size) or null; `box` is [x1,y1,x2,y2] in pixels or null |
| reasoning_ids | list<string>                          | pool ids of the reasoning objects, in trace order    |
| answer_ids    | list<string>                          | pool ids of the answer objects                       |
| reasoning     | string (nullable)                     | reasoning text; objects referenced as `<ref:ID>`     |
| answer        | string (nullable)                     | answer text; objects referenced as `<ref:ID>`        |
| class_ids     | list<string>                          | VRT-Bench classes (#visf #loc #comp #func); empty elsewhere |
| extra         | string                                | JSON object with source fields kept verbatim (confidence, image_name, ...) |
"""

from __future__ import annotations

import re

import pyarrow as pa

SCHEMA_VERSION = 1
SOURCES = ("vrt-80k", "vrt-bench", "reasonseg", "vgr")
CLASSES = ("#visf", "#loc", "#comp", "#func")
REF_PATTERN = re.compile(r"<ref:([^>]+)>")

OBJECT_TYPE = pa.struct(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("caption", pa.string()),
        pa.field("rle", pa.string()),
        # variable-size list (always 4 values when set): a null fixed_size_list does not survive a
        # Parquet round trip in pyarrow ("Expected all lists to be of size=4")
        pa.field("box", pa.list_(pa.float64())),
    ]
)

SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("image", pa.binary(), nullable=False),
        pa.field("width", pa.int32(), nullable=False),
        pa.field("height", pa.int32(), nullable=False),
        pa.field("question", pa.string(), nullable=False),
        pa.field("objects", pa.list_(OBJECT_TYPE), nullable=False),
        pa.field("reasoning_ids", pa.list_(pa.string()), nullable=False),
        pa.field("answer_ids", pa.list_(pa.string()), nullable=False),
        pa.field("reasoning", pa.string()),
        pa.field("answer", pa.string()),
        pa.field("class_ids", pa.list_(pa.string()), nullable=False),
        pa.field("extra", pa.string(), nullable=False),
    ],
    metadata={b"vrt.schema_version": str(SCHEMA_VERSION).encode()},
)


def ref(obj_id: str) -> str:
    """The canonical in-text reference to pool object `obj_id`."""
    return f"<ref:{obj_id}>"
