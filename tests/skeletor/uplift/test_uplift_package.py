"""The package re-exports every public name of the uplift, so importers need not know its modules."""

from __future__ import annotations

import importlib

import skeletor.uplift


def test_every_public_name_is_importable_from_the_package() -> None:
    names = {"UpliftConfig", "StreamingUplifter", "UpliftFrame", "uplift_streaming", "uplift_sequence", "flat_uplift",
             "fill_unestimated", "UpliftTree", "nanquantile_rows", "NECK"}  # fmt: skip
    assert set(skeletor.uplift.__all__) == names
    for name in names:
        obj = getattr(skeletor.uplift, name)
        if callable(obj):  # the same object as where it is defined
            assert getattr(importlib.import_module(obj.__module__), name) is obj
