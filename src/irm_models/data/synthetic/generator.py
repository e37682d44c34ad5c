"""The block generator: the café, block by block, each block its own random stream.

A block's stream is seeded by the café's seed and the block's number, and draws, in a fixed order,
its customers (:mod:`.customers`), their visits and baskets (:mod:`.visits`), and what the till
records; so the output does not depend on how many blocks there are.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from irm_models.data.synthetic.customers import customer_tables, draw_customers
from irm_models.data.synthetic.spec import CafeSpec
from irm_models.data.synthetic.visits import draw_visits, till_and_oracle
from irm_models.data.synthetic.world import CafeBlock, World

BLOCK_SIZE = 1000  # customers per random stream; a constant so outputs never depend on chunking


def _block(world: World, block: int, first: int, n: int) -> CafeBlock:
    """Customers ``first + 1 .. first + n``: every draw from the block's own random stream, in a
    fixed order (customers, then their visits and baskets, then what the till records)."""
    rng = np.random.default_rng([world.spec.seed, 1, block])
    people = draw_customers(
        world, rng, first, n, np.random.default_rng([world.spec.seed, 2, block])
    )
    visits = draw_visits(world, rng, people)
    till, oracle = till_and_oracle(world, rng, people, visits)
    customers, truth = customer_tables(world, people)
    return CafeBlock(visits=till, customers=customers, truth=truth, oracle=oracle)


def generate(spec: CafeSpec) -> Iterator[CafeBlock]:
    """Yield the café block by block (``BLOCK_SIZE`` customers each), deterministically."""
    world = World(spec)
    for block, first in enumerate(range(0, spec.customers, BLOCK_SIZE)):
        yield _block(world, block, first, min(BLOCK_SIZE, spec.customers - first))


def generate_frames(spec: CafeSpec) -> CafeBlock:
    """The whole café in memory (small worlds, tests, notebooks)."""
    blocks = list(generate(spec))
    return CafeBlock(
        *(
            pd.concat([getattr(b, f) for b in blocks], ignore_index=True)
            for f in ("visits", "customers", "truth", "oracle")
        )
    )
