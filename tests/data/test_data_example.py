"""tf.train.Example encoding by hand, checked against the protobuf runtime (packed and unpacked)."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from vrt.data.example import decode_example, encode_example


def _example_class(syntax: str):
    """tf.train.Example built from its .proto definition (proto3: packed numbers; proto2: unpacked)."""
    f = descriptor_pb2.FileDescriptorProto(
        name=f"example_{syntax}.proto", package=f"t{syntax}", syntax=syntax
    )
    T = descriptor_pb2.FieldDescriptorProto
    rep = T.LABEL_REPEATED
    opt = T.LABEL_OPTIONAL
    for name, ftype in (
        ("BytesList", T.TYPE_BYTES),
        ("FloatList", T.TYPE_FLOAT),
        ("Int64List", T.TYPE_INT64),
    ):
        f.message_type.add(name=name).field.add(name="value", number=1, label=rep, type=ftype)
    feature = f.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    for number, (fname, tname) in enumerate(
        [("bytes_list", "BytesList"), ("float_list", "FloatList"), ("int64_list", "Int64List")], start=1
    ):
        feature.field.add(
            name=fname,
            number=number,
            label=opt,
            type=T.TYPE_MESSAGE,
            type_name=f".t{syntax}.{tname}",
            oneof_index=0,
        )
    features = f.message_type.add(name="Features")
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, label=opt, type=T.TYPE_STRING)
    entry.field.add(name="value", number=2, label=opt, type=T.TYPE_MESSAGE, type_name=f".t{syntax}.Feature")
    features.field.add(
        name="feature",
        number=1,
        label=rep,
        type=T.TYPE_MESSAGE,
        type_name=f".t{syntax}.Features.FeatureEntry",
    )
    example = f.message_type.add(name="Example")
    example.field.add(
        name="features", number=1, label=opt, type=T.TYPE_MESSAGE, type_name=f".t{syntax}.Features"
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"t{syntax}.Example"))


FEATURES = {
    "key": "k-1",
    "image": b"\x89PNG\x00\xff",
    "ids": [3, 0, -2, 2**40],
    "score": [0.5, -1.25],
    "empty": [],
}
DECODED = {
    "key": [b"k-1"],
    "image": [b"\x89PNG\x00\xff"],
    "ids": [3, 0, -2, 2**40],
    "score": [0.5, -1.25],
    "empty": [],
}


@pytest.mark.parametrize("packed", [True, False])
def test_round_trip(packed):
    assert decode_example(encode_example(FEATURES, packed=packed)) == DECODED


@pytest.mark.parametrize(("syntax", "packed"), [("proto3", True), ("proto2", False)])
def test_matches_protobuf_runtime(syntax, packed):
    cls = _example_class(syntax)
    parsed = cls.FromString(encode_example(FEATURES, packed=packed))
    feat = parsed.features.feature
    assert list(feat["ids"].int64_list.value) == [3, 0, -2, 2**40]
    assert list(feat["score"].float_list.value) == [0.5, -1.25]
    assert list(feat["image"].bytes_list.value) == [b"\x89PNG\x00\xff"]
    msg = cls()
    msg.features.feature["ids"].int64_list.value.extend([7, -9])
    msg.features.feature["score"].float_list.value.extend([2.0])
    msg.features.feature["key"].bytes_list.value.append(b"abc")
    assert decode_example(msg.SerializeToString()) == {"ids": [7, -9], "score": [2.0], "key": [b"abc"]}


@pytest.mark.parametrize("bad", [b"\x0a\x05\x0a\x03", b"\x0a", b"\x0b\x00", b"\x0a\x02\x0a\x00"])
def test_malformed_messages_raise_value_error(bad):
    with pytest.raises(ValueError):
        decode_example(bad)


def test_mixed_types_rejected():
    with pytest.raises(ValueError, match="all bytes/str, all int or all float"):
        encode_example({"x": [1, b"a"]})
