"""Seeded choices in SQL, for the tick and the chaos tick, without Postgres' `random()`.

`ORDER BY random()` depends on the session's random state and on the physical order in
which a scan meets the rows (which vacuum and HOT updates change), so two runs on equal
data could pick different rows. Here a row's place in the draw is a hash of its key and
a seed (`hashint8extended`, stable across Postgres versions and platforms): the same seed
on the same rows always picks the same ones, whatever their layout on disk.
"""

from __future__ import annotations

import random

import numpy as np

# hashint8extended takes a bigint seed; keep drawn seeds positive and well inside it.
SEED_BITS = 62


def drawn_order(key: str, seed: int) -> str:
    """`ORDER BY` a seeded shuffle of the rows by `key` (an integer column of the code's own
    queries, qualified if needed); ties, which a 64-bit hash makes vanishingly rare, fall back
    to the key itself."""
    return f"ORDER BY hashint8extended({key}::bigint, {int(seed)}), {key}"


def drawn_fraction(key: str, seed: int) -> str:
    """A number in [0, 1) per row, fixed by `key` and `seed` (in place of `random()` in a value)."""
    return f"((hashint8extended({key}::bigint, {int(seed)}) & 1048575) / 1048576.0)"


def next_seed(rng: random.Random | np.random.Generator) -> int:
    """A fresh seed for one draw, from the tick's own seeded generator."""
    if isinstance(rng, random.Random):
        return rng.getrandbits(SEED_BITS)
    return int(rng.integers(0, 1 << SEED_BITS))
