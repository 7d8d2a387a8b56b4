"""task=relation's module: class weights."""

import pytest


def test_relation_class_weights():
    from cts.tasks.relation.module import class_weight_vector

    assert class_weight_vector(None) is None and class_weight_vector("none") is None
    assert class_weight_vector("balanced", [80, 10, 10]) == pytest.approx([100 / 240, 100 / 30, 100 / 30])
    assert class_weight_vector("balanced", [90, 10, 0]) == pytest.approx([100 / 180, 100 / 20, 0.0])
    assert class_weight_vector([1, 2, 3]) == [1.0, 2.0, 3.0]
    for bad in ("balnced", [1, 2], [0, 0, 0], [-1, 1, 1]):
        with pytest.raises(ValueError, match="class_weights"):
            class_weight_vector(bad, [1, 1, 1])
