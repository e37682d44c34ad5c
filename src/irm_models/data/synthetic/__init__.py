"""The synthetic café: a seeded, deterministic world of regulars whose orders depend on context.

Every customer has a usual item, and a *personal* way of changing it: some never do (creatures of
habit), some switch with companions (a pot of tea when the kids come), some with intent (a large
drink and a pastry for a work session), some with daypart and weather (tea in the afternoon, iced on
hot days), some have no strong favourite. On top come effects everyone shares: kids bring a
babyccino into the basket, a work session a pastry, a treat a cake, hot weather iced drinks.

For every visit the generator also writes the true probability that each menu item is in the
basket, so the best any model can do (the *oracle*) is known.

Generation runs in fixed blocks of customers, each with its own random stream derived from the
seed, so memory stays bounded for any number of customers and the output does not depend on how
many blocks there are.

The package: :mod:`.spec` (the settings, the menu and the world's constants), :mod:`.world` (what
every customer shares), :mod:`.customers` and :mod:`.visits` (the draws of one block) and
:mod:`.generator` (the café block by block).
"""

from irm_models.data.synthetic.generator import BLOCK_SIZE, generate, generate_frames
from irm_models.data.synthetic.spec import (
    MAX_MENU,
    MENU,
    MIN_MENU,
    SEGMENTS,
    STORE_NAMES,
    CafeSpec,
    menu,
)
from irm_models.data.synthetic.world import CafeBlock

__all__ = [
    "BLOCK_SIZE",
    "MAX_MENU",
    "MENU",
    "MIN_MENU",
    "SEGMENTS",
    "STORE_NAMES",
    "CafeBlock",
    "CafeSpec",
    "generate",
    "generate_frames",
    "menu",
]
