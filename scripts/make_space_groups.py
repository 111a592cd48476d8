"""Write layer_sync/rules/space_groups.json: the 230 space groups in their 530 settings (Hall
numbers), with the symbols each is written with, as spglib knows them.

    pip install spglib && python scripts/make_space_groups.py

The table is data, not code: layer-sync reads it at run time and needs no compiled library
for it (spglib has no wheel for every platform a lab uses). tests/test_values.py holds the
file to spglib's own table whenever spglib is installed.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import spglib

TARGET = Path(__file__).resolve().parent.parent / "layer_sync" / "rules" / "space_groups.json"


def settings() -> list[list[object]]:
    """[number, international short, international full, international] per Hall number."""
    rows = []
    with warnings.catch_warnings():  # spglib 2.x warns about its own error-handling switch
        warnings.simplefilter("ignore", DeprecationWarning)
        for hall in range(1, 531):
            sg = spglib.get_spacegroup_type(hall)
            assert sg is not None, hall
            rows.append([sg.number, sg.international_short, sg.international_full,
                         sg.international])
    return rows


if __name__ == "__main__":
    TARGET.write_text(json.dumps({"source": f"spglib {spglib.__version__}",
                                  "settings": settings()}, separators=(",", ":")) + "\n",
                      encoding="utf-8")
    print(TARGET)
