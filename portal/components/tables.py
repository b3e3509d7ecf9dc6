"""Table downloads: CSV whose text cells cannot run as spreadsheet formulas."""

from __future__ import annotations

import pandas as pd

from portal.backend.people.queries import safe_cell


def safe_csv(frame: pd.DataFrame) -> bytes:
    """The frame as CSV; text cells starting with = + - @ (names, places, file names) get a leading quote."""
    safe = frame.copy()
    for column in safe.columns:
        # Numbers stay numbers (a negative count is not a formula); anything else may carry typed-in text.
        if not pd.api.types.is_numeric_dtype(safe[column]) and not pd.api.types.is_bool_dtype(safe[column]):
            safe[column] = safe[column].map(safe_cell)
    return safe.to_csv(index=False).encode()
