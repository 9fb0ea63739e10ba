"""Named Python predicates: the escape hatch for conditions a column test cannot express.

Each takes (table, inventory) and returns a boolean Series aligned to the table. They are listed in
PREDICATES explicitly (no registration by import side effect) so a rule file can only name these.
"""

from __future__ import annotations

from typing import Callable

import pandas as pd

Predicate = Callable[[pd.DataFrame, object], pd.Series]

PREDICATES: dict[str, Predicate] = {}
