"""Finding the header row and naming its columns, as technicians write them.

Matching ignores case, spaces, underscores and punctuation, and the hints people add: a part
in brackets or after a colon (`Composition (formula)`, `Layer # (from substrate)`,
`Orientation: hkl`), and a trailing `#`, `No.`, `Nr`, `Number`. A column nobody claimed that
closely resembles a known name is reported as a near miss, so a typo never drops a column
silently.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

from ..core.errors import InputFileError
from ..core.issues import Issue, Severity
from ..core.text import describe
from ..rules import values
from ..rules.cells import ValueProblem, is_blank
from ..rules.fold import fold
from .files import Grid, column_letter

HEADER_SEARCH_ROWS = 20

#: Header names technicians use, squeezed (lower case, letters and digits only).
ALIASES: dict[str, tuple[str, ...]] = {
    "sample_id": ("sampleid", "targetmaterialid", "tmid", "sampleno", "samplenumber"),
    "sample_name": ("samplename", "sample", "targetmaterial", "targetmaterialname",
                    "materialname", "stack", "stackname"),
    "substrate": ("substrate", "substratematerial"),
    "layer_id": ("layerid", "layer", "layerno", "layernumber", "layernum", "position",
                 "layerposition", "pos"),
    "composition_string": ("compositionstring", "composition", "formula", "chemicalformula",
                           "compound", "material"),
    "element_dict": ("elementdict", "elements", "elementcounts", "elementalcomposition"),
    "orientation": ("orientation", "millerindex", "millerindices", "hkl", "orient"),
    "space_group": ("spacegroup", "sg", "spacegroupsymbol", "spacegroupnumber", "spgr"),
    "mp_id": ("mpid", "materialsprojectid", "mp", "materialsproject", "mpnumber"),
}
_ALIAS_TO_FIELD = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
_HINT = re.compile(r"\([^)]*\)?|\[[^\]]*\]?|\{[^}]*\}?|<[^>]*>?|:.*", re.DOTALL)
_COUNTER = re.compile(r"(?:no|nr|num|number)$")
#: How alike (difflib's ratio) an unused header and a known name must be to be a near miss.
NEAR_MISS_CUTOFF = 0.8
# A name longer than this cannot reach the cutoff against the longest alias (20 letters).
_NEAR_MISS_LONGEST = 30
#: Unused columns compared for near misses: a lab sheet has tens; a sheet of 17,000 columns
#: is compared on its first ones only, so it costs no more than a lab sheet.
NEAR_MISS_COLUMNS = 200


@dataclass
class Header:
    """The header row of a grid: which column holds which field."""

    index: int                       # 0-based row of the grid
    colmap: dict[str, int]           # field -> column
    headers: list[str]               # every header as written, in sheet order
    ignored: list[str]               # the headers of the columns not used
    near_misses: list[tuple[str, str]] = field(default_factory=list)  # (header, field)
    issues: list[Issue] = field(default_factory=list)


def squeeze_header(text: Any) -> str:
    """`"Layer #"` -> `"layer"`, `"Materials Project ID"` -> `"materialsprojectid"`."""
    text_ = describe(text)
    if not text_.isascii():  # a header typed full-width: `Ｌａｙｅｒ` is `Layer`
        text_ = fold(text_)
    return re.sub(r"[^0-9a-z]", "", text_.casefold())


@lru_cache(maxsize=4096)
def _field_for_text(text: str) -> str | None:
    squeezed = squeeze_header(text)
    if squeezed in _ALIAS_TO_FIELD:
        return _ALIAS_TO_FIELD[squeezed]
    plain = squeeze_header(_HINT.sub(" ", text))  # the hints in brackets or after a colon
    if plain in _ALIAS_TO_FIELD:
        return _ALIAS_TO_FIELD[plain]
    stripped = _COUNTER.sub("", plain)  # "Layer Nr.", "Position No."
    return _ALIAS_TO_FIELD.get(stripped) if stripped else None


def lab_names(columns: Mapping[str, str] | None) -> dict[str, str]:
    """A lab's own header names (`{"Film": "composition_string"}`), squeezed for matching."""
    return {squeeze_header(header): name for header, name in (columns or {}).items()}


def field_for_header(text: Any, names: Mapping[str, str] | None = None) -> str | None:
    """The field a header names, or None: `"Composition (formula)"` -> `"composition_string"`.

    `names`: a lab's own names (see `lab_names`), matched like the built-in ones and first.
    """
    if is_blank(text):
        return None
    if names:
        own = names.get(squeeze_header(describe(text)[:200]))
        if own is not None:
            return own
    return _field_for_text(describe(text)[:200])


def near_miss(text: Any) -> str | None:
    """The field an unrecognised header closely resembles (`"Orientaton"` -> orientation)."""
    plain = squeeze_header(_HINT.sub(" ", describe(text)[:200]))
    if not 4 <= len(plain) <= _NEAR_MISS_LONGEST:  # "pot" is not "pos"
        return None
    close = difflib.get_close_matches(plain, _ALIAS_TO_FIELD, n=1, cutoff=NEAR_MISS_CUTOFF)
    return _ALIAS_TO_FIELD[close[0]] if close else None


def header_columns(cells: list[Any], names: Mapping[str, str] | None = None,
                   ) -> tuple[dict[str, int], list[tuple[str, int]]]:
    """The fields a row's cells name, read as a header: field -> its first column, and the
    (field, column) of each further column naming a field already named."""
    colmap: dict[str, int] = {}
    duplicates: list[tuple[str, int]] = []
    for col, cell in enumerate(cells):
        name = field_for_header(cell, names)
        if name is None:
            continue
        if name in colmap:
            duplicates.append((name, col))
        else:
            colmap[name] = col
    return colmap, duplicates


def is_header(colmap: Mapping[str, int]) -> bool:
    """Whether the fields a row names make it a header: layer_id, and sample_id or sample_name."""
    return "layer_id" in colmap and ("sample_id" in colmap or "sample_name" in colmap)


def find_header(grid: Grid, path: Path, names: Mapping[str, str] | None = None) -> Header | None:
    """The first of the first 20 rows naming layer_id and sample_id or sample_name.

    Two columns naming one field are refused (InputFileError): which one is meant?
    `names`: a lab's own header names (see `lab_names`).
    """
    for index, cells in enumerate(grid.cells[:HEADER_SEARCH_ROWS]):
        colmap, duplicates = header_columns(cells, names)
        if not is_header(colmap):
            continue
        headers = [describe(c).strip() for c in cells]
        if duplicates:
            name, col = duplicates[0]
            first = colmap[name]
            raise InputFileError(
                f"sheet {grid.name!r} of {path.name} has two {name} columns: "
                f"{headers[first]!r} (column {column_letter(first)}) and {headers[col]!r} "
                f"(column {column_letter(col)}); keep one (rename or delete the other) and run again")
        used = set(colmap.values())
        # A column with values but no header is named by its letter: its values are the
        # row's too (the report shows every column as read), and the technician is told.
        below = grid.cells[index + 1:]
        for c, name in enumerate(headers):
            if not name and c not in used and any(
                    c < len(row) and not is_blank(row[c]) for row in below):
                headers[c] = f"column {column_letter(c)}"
        header = Header(index, colmap, headers,
                        [headers[c] for c in range(len(cells)) if c not in used and headers[c]])
        unused = [c for c in range(len(cells)) if c not in used and not is_blank(cells[c])]
        for c in unused[:NEAR_MISS_COLUMNS]:
            resembles = near_miss(cells[c])
            if resembles is None:
                continue
            header.near_misses.append((headers[c], resembles))
            taken = (f"; that field is read from {headers[colmap[resembles]]!r}"
                     if resembles in colmap else "")
            header.issues.append(Issue(
                grid.name, index + 1, headers[c], f"{column_letter(c)}{index + 1}", headers[c],
                Severity.WARNING,
                f"column {headers[c]!r} is not used, but looks like {resembles}{taken}; "
                f"if it holds {resembles}, name it {resembles!r}"))
        if "composition_string" not in colmap:
            flagged = {h for h, _ in header.near_misses}
            for c in unused[:NEAR_MISS_COLUMNS]:
                examples = _formulas_below(grid, index, c)
                if examples and headers[c] not in flagged:
                    header.issues.append(Issue(
                        grid.name, index + 1, headers[c], f"{column_letter(c)}{index + 1}",
                        headers[c], Severity.WARNING,
                        f"this sheet has no composition_string column, and column "
                        f"{headers[c]!r} is not used but holds formulas ({', '.join(examples)}); "
                        f"if it is the composition, name it 'composition_string' or map it in "
                        f"layer-sync.toml ([columns] {json.dumps(headers[c])} = \"composition_string\"): "
                        "until then no composition is read or sent"))
        return header
    return None


#: Values looked at to tell whether an unused column holds formulas.
FORMULA_SAMPLE = 20


def _formulas_below(grid: Grid, header_index: int, col: int) -> list[str]:
    """Up to three of the column's first values, when two thirds of them or more read as
    chemical formulas, one at least of two elements (BaTiO3, not only "Si" or notes); else []."""
    below = islice(grid.cells, header_index + 1, None)
    seen = list(islice((v for row in below
                        if col < len(row) and isinstance(v := row[col], str) and v.strip()),
                       FORMULA_SAMPLE))
    formulas = []
    for value in seen:
        try:
            checked = values.check("composition_string", value)
        except ValueProblem:
            continue
        formulas.append((value.strip(), len(values.parse_formula(checked.value))))
    if not formulas or 3 * len(formulas) < 2 * len(seen) or max(n for _, n in formulas) < 2:
        return []
    return list(dict.fromkeys(v for v, _ in formulas))[:3]


def no_header_message(path: Path, grids: list[Grid],
                      names: Mapping[str, str] | None = None) -> str:
    """Why no header was found, with the best candidate row."""
    best: tuple[int, list[str], str] = (0, [], "")
    for grid in grids:
        for cells in grid.cells[:HEADER_SEARCH_ROWS]:
            known = [f"{describe(c).strip()!r} ({field_for_header(c, names)})"
                     for c in cells if field_for_header(c, names)]
            if len(known) > best[0]:
                best = (len(known), known, grid.name)
    where = f" (sheets: {', '.join(g.name for g in grids)})" if len(grids) > 1 else ""
    found = (f"; the best row, in {best[2]!r}, has {', '.join(best[1])}" if best[1]
             else "; no column name was recognised")
    return (f"{path.name} has no recognisable header in its first {HEADER_SEARCH_ROWS} rows"
            f"{where}: a header needs a layer_id column (Layer, Layer #, Position) and a "
            f"sample_id or sample_name column (Sample ID, Sample){found}")
