"""One shard rule for notes and annotation: explicit settings, SLURM array variables, and the errors."""

from pathlib import Path

import numpy as np
import pytest

from cts.sharding import Shard, ShardError

ARRAY = {"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "5", "SLURM_ARRAY_TASK_COUNT": "4"}


@pytest.mark.parametrize("given, environ, expected", [
    (Shard(), {}, Shard(0, 1)),                                   # outside SLURM: everything
    (Shard(), ARRAY, Shard(2, 4)),                                # task 7 of array 5-8
    (Shard(0, 2), ARRAY, Shard(0, 2)),                            # explicit settings win
    (Shard(index=1), ARRAY, Shard(1, 4)),                         # a null field alone comes from SLURM
    (Shard(count=8), ARRAY, Shard(2, 8)),
    (Shard(), {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "5"}, Shard(3, 5)),  # MIN absent: 0
    (Shard(index=0), {"SLURM_ARRAY_TASK_ID": "3"}, Shard(0, 1)),
])
def test_resolve(given, environ, expected):
    assert given.resolve(environ) == expected


@pytest.mark.parametrize("given, environ, message", [
    (Shard(), {"SLURM_ARRAY_TASK_ID": "3"}, "SLURM_ARRAY_TASK_COUNT is not: set shard.count"),
    (Shard(3, 3), {}, r"shard.index must be in \[0, shard.count=3\), got 3"),
    (Shard(0, 0), {}, r"shard.count=0\), got 0"),
    (Shard(-1, 2), {}, "got -1"),
    (Shard(), {**ARRAY, "SLURM_ARRAY_TASK_ID": "7a"}, "SLURM_ARRAY_TASK_ID='7a' is not an integer"),
])
def test_impossible_settings_are_errors(given, environ, message):
    with pytest.raises(ShardError, match=message):
        given.resolve(environ)


def test_admission_h_is_in_shard_h_mod_count():
    shards = [Shard(i, 3) for i in range(3)]
    owners = {h: [s.index for s in shards if s.owns(h)] for h in (20000000, 20000001, 20000002, 9007199254740993)}
    # 2^53+1 = 3 × 3002399751580331
    assert owners == {20000000: [2], 20000001: [0], 20000002: [1], 9007199254740993: [0]}
    assert Shard(3, 8).path(Path("d/c.parquet")) == Path("d/c-00003-of-00008.parquet")
    assert Shard(0, 1).path(Path("d/c.parquet")) == Path("d/c.parquet")


def test_a_column_of_admissions_gets_the_same_rule_as_one():
    ids = np.array([20000000, 20000001, 20000002, 9007199254740993], dtype=np.int64)
    assert Shard(0, 3).owns(ids).tolist() == [Shard(0, 3).owns(int(h)) for h in ids] == [False, True, False, True]
