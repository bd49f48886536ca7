"""Canonical dataset: schema, TFRecord reading, source converters, manifests (`vrt data ...`)."""
