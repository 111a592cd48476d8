"""The sandbox's records, in SQLite: target materials and their layers.

One connection guarded by one lock: every read and write is serialised, so concurrent
requests never lose or tear a write. With a file path the records survive a restart.
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from ..rules import cells, values

LAYER_KEYS = ("id", "layer_id", "sample_id", "composition_string", "element_dict",
              "orientation", "space_group", "mp_id")
SAMPLE_KEYS = ("sample_id", "sample_name", "substrate", "sample_metadata", "detail_notes_id",
               "user_id", "version", "last_updated")

# What the real server fills in for a few well-known compositions (space group, Materials
# Project id). The sandbox only needs a handful to behave like the real enrichment.
KNOWN_MATERIALS: dict[str, tuple[str, str]] = {
    "BaTiO3": ("P4mm", "mp-5020"),
    "SrTiO3": ("Pm-3m", "mp-5229"),
    "Si": ("Fd-3m", "mp-149"),
    "MgO": ("Fm-3m", "mp-1265"),
    "Al2O3": ("R-3c", "mp-1143"),
    "LaAlO3": ("R-3c", "mp-2920"),
    "GaN": ("P6_3mc", "mp-804"),
    "ZnO": ("P6_3mc", "mp-2133"),
    "TiO2": ("P4_2/mnm", "mp-2657"),
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS target_materials (
    sample_id INTEGER PRIMARY KEY,
    sample_name TEXT,
    substrate TEXT,
    sample_metadata TEXT,
    detail_notes_id INTEGER,
    detail_note_content TEXT,
    user_id TEXT,
    user_name TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    last_updated TEXT
);
CREATE TABLE IF NOT EXISTS layers (
    id INTEGER PRIMARY KEY,
    sample_id INTEGER NOT NULL REFERENCES target_materials(sample_id),
    layer_id INTEGER NOT NULL,
    composition_string TEXT,
    element_dict TEXT,
    orientation TEXT,
    space_group TEXT,
    mp_id TEXT
);
CREATE INDEX IF NOT EXISTS layers_key ON layers(sample_id, layer_id);
"""


#: One JSON object per layer, with its target material's fields, in the real list's order.
_LIST_JSON = """
SELECT json_object(
    'id', l.id, 'sample_id', t.sample_id, 'sample_name', t.sample_name,
    'substrate', t.substrate, 'layer_id', l.layer_id, 'composition_string', l.composition_string,
    'element_dict', json(l.element_dict), 'orientation', l.orientation,
    'space_group', l.space_group, 'mp_id', l.mp_id, 'detail_notes_id', t.detail_notes_id,
    'detail_note_content', t.detail_note_content, 'sample_metadata', json(t.sample_metadata),
    'user_id', t.user_id, 'user_name', t.user_name, 'version', t.version,
    'last_updated', t.last_updated)
FROM target_materials t LEFT JOIN layers l ON l.sample_id = t.sample_id
ORDER BY t.sample_id, l.layer_id, l.id
"""


class NotFound(LookupError):
    """An unknown target material or layer (the server answers 404)."""


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _signature(composition: str | None) -> tuple[Any, ...] | None:
    if not composition:
        return None
    try:
        return tuple(sorted(values.parse_formula(composition).items()))
    except cells.ValueProblem:
        return None


class Store:
    """Target materials and layers, thread-safe. `path=None` keeps them in memory."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = str(path) if path else ":memory:"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._known = {sig: info for name, info in KNOWN_MATERIALS.items()
                       if (sig := _signature(name)) is not None}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ reads
    def list_json(self) -> bytes:
        """The list endpoint's answer, as JSON: one entry per layer; a bare target material
        once. SQLite writes the text (50,000 layers: 0.14 s, against 0.65 s for building
        dicts and dumping them)."""
        with self._lock:
            cursor = self._db.cursor()
            cursor.row_factory = None
            entries = [entry for (entry,) in cursor.execute(_LIST_JSON)]
        return ("[" + ",".join(entries) + "]").encode("utf-8")

    def layers(self) -> list[dict[str, Any]]:
        """Every layer record (duplicates included), for tests and checks."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM layers ORDER BY sample_id, layer_id, id").fetchall()
        return [self._layer(row) for row in rows]

    def target_materials(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM target_materials ORDER BY sample_id").fetchall()
        return [self._sample(row) for row in rows]

    # ------------------------------------------------------------------ writes
    def create_target_material(self, sample: dict[str, Any],
                               layers: list[dict[str, Any]] | None = None,
                               sample_id: int | None = None) -> dict[str, Any]:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                new_id = self._insert_target_material(sample, sample_id)
                for layer in layers or []:
                    self._insert_layer(new_id, layer)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            row = self._db.execute("SELECT * FROM target_materials WHERE sample_id=?",
                                   (new_id,)).fetchone()
        return self._sample(row)

    def create_layer(self, layer: dict[str, Any]) -> dict[str, Any]:
        """Store one layer. A second POST of the same key stores a second record, as the
        real API may: clients must not rely on the server to refuse duplicates."""
        with self._lock:
            if not self._sample_exists(layer["sample_id"]):
                raise NotFound(f"target material {layer['sample_id']} not found")
            record_id = self._insert_layer(layer["sample_id"], layer)
            self._touch(layer["sample_id"])
            row = self._db.execute("SELECT * FROM layers WHERE id=?", (record_id,)).fetchone()
        return self._layer(row)

    def update_layer(self, sample_id: int, layer_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Change only the fields given, on the layer of the lowest record id for that key."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM layers WHERE sample_id=? AND layer_id=? ORDER BY id LIMIT 1",
                (sample_id, layer_id)).fetchone()
            if row is None:
                if not self._sample_exists(sample_id):
                    raise NotFound(f"target material {sample_id} not found")
                raise NotFound(f"layer {layer_id} of target material {sample_id} not found")
            changes = dict(changes)
            if "composition_string" in changes and "element_dict" not in changes:
                derived = self._derive_elements(changes["composition_string"])
                if derived is not None:
                    changes["element_dict"] = derived
            columns = [k for k in LAYER_KEYS if k in changes and k not in ("id", "layer_id", "sample_id")]
            if columns:
                self._db.execute(
                    f"UPDATE layers SET {', '.join(f'{c}=?' for c in columns)} WHERE id=?",
                    [_column_value(c, changes[c]) for c in columns] + [row["id"]])
                self._touch(sample_id)
            row = self._db.execute("SELECT * FROM layers WHERE id=?", (row["id"],)).fetchone()
        return self._layer(row)

    def update_target_material(self, sample_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Change only the fields given (`sample_name`, `substrate`, `sample_metadata`) of one
        target material; its layers are untouched. Raises NotFound for an unknown id."""
        with self._lock:
            if not self._sample_exists(sample_id):
                raise NotFound(f"target material {sample_id} not found")
            columns = [k for k in ("sample_name", "substrate", "sample_metadata") if k in changes]
            if columns:
                self._db.execute(
                    f"UPDATE target_materials SET {', '.join(f'{c}=?' for c in columns)} "
                    "WHERE sample_id=?",
                    [_dumps(changes[c]) if c == "sample_metadata" else changes[c] for c in columns]
                    + [sample_id])
                self._touch(sample_id)
            row = self._db.execute("SELECT * FROM target_materials WHERE sample_id=?",
                                   (sample_id,)).fetchone()
        return self._sample(row)

    def seed(self, entries: list[dict[str, Any]]) -> None:
        """Load a list shaped like `GET /target-materials/`'s answer (see `validate_seed`), in
        one transaction: all of it, or (on an error) none of it."""
        by_sample: dict[int, list[dict[str, Any]]] = {}
        for entry in entries:
            by_sample.setdefault(int(entry["sample_id"]), []).append(entry)
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for sample_id, rows in by_sample.items():
                    if not self._sample_exists(sample_id):
                        self._insert_target_material(rows[0], sample_id)
                    for layer in rows:
                        if layer.get("layer_id") is not None:
                            self._insert_layer(sample_id, layer, enrich=False)
                self._db.execute("COMMIT")
            except BaseException as exc:
                self._db.execute("ROLLBACK")
                if isinstance(exc, (sqlite3.Error, OverflowError, UnicodeEncodeError)):
                    # What validate_seed lets through but SQLite refuses: "cannot load the
                    # seed" (a ValueError, as the seed's other checks raise).
                    raise ValueError(f"cannot store it ({exc})") from None  # noqa: TRY004
                raise

    # ------------------------------------------------------------------ helpers
    def _insert_target_material(self, sample: dict[str, Any], sample_id: int | None) -> int:
        cur = self._db.execute(
            """INSERT INTO target_materials (sample_id, sample_name, substrate,
               sample_metadata, detail_notes_id, detail_note_content, user_id,
               user_name, version, last_updated) VALUES (?,?,?,?,?,?,?,?,?,?)""",
            (sample_id, sample.get("sample_name"), sample.get("substrate"),
             _dumps(sample.get("sample_metadata") or {}), sample.get("detail_notes_id"),
             sample.get("detail_note_content"), sample.get("user_id", "sandbox-user"),
             sample.get("user_name", "Sandbox User"), sample.get("version") or 1,
             sample.get("last_updated") or _now()))
        assert cur.lastrowid is not None  # an INSERT's
        return int(cur.lastrowid)

    def _insert_layer(self, sample_id: int, layer: dict[str, Any], enrich: bool = True) -> int:
        data = dict(layer)
        if enrich:
            data = self._enrich(data)
        cur = self._db.execute(
            """INSERT INTO layers (id, sample_id, layer_id, composition_string, element_dict,
               orientation, space_group, mp_id) VALUES (?,?,?,?,?,?,?,?)""",
            (data.get("id"), sample_id, data["layer_id"], data.get("composition_string"),
             _dumps(data.get("element_dict")), data.get("orientation"), data.get("space_group"),
             data.get("mp_id")))
        assert cur.lastrowid is not None  # an INSERT's
        return int(cur.lastrowid)

    def _enrich(self, layer: dict[str, Any]) -> dict[str, Any]:
        """What the real server does: derive element_dict, fill space group and mp_id."""
        composition = layer.get("composition_string")
        if not composition:
            return layer
        if layer.get("element_dict") is None:
            derived = self._derive_elements(composition)
            if derived is not None:
                layer["element_dict"] = derived
        signature = _signature(composition)
        known = self._known.get(signature) if signature is not None else None
        if known:
            layer.setdefault("space_group", None)
            layer.setdefault("mp_id", None)
            if layer["space_group"] is None:
                layer["space_group"] = known[0]
            if layer["mp_id"] is None:
                layer["mp_id"] = known[1]
        return layer

    @staticmethod
    def _derive_elements(composition: str | None) -> dict[str, Any] | None:
        if not composition:
            return None
        try:
            return values.element_counts(composition)
        except cells.ValueProblem:
            return None

    def _sample_exists(self, sample_id: int) -> bool:
        return self._db.execute("SELECT 1 FROM target_materials WHERE sample_id=?",
                                (sample_id,)).fetchone() is not None

    def _touch(self, sample_id: int) -> None:
        self._db.execute("UPDATE target_materials SET version = version + 1, last_updated=? "
                         "WHERE sample_id=?", (_now(), sample_id))

    @staticmethod
    def _layer(row: sqlite3.Row) -> dict[str, Any]:
        return {key: (_loads(row[key]) if key == "element_dict" else row[key]) for key in LAYER_KEYS}

    @staticmethod
    def _sample(row: sqlite3.Row) -> dict[str, Any]:
        return {key: (_loads(row[key]) if key == "sample_metadata" else row[key])
                for key in SAMPLE_KEYS}


def _column_value(column: str, value: Any) -> Any:
    return _dumps(value) if column == "element_dict" else value


def _dumps(value: Any) -> str | None:
    # allow_nan=False: SQLite, which writes the list's JSON, cannot read NaN or Infinity back
    # (request bodies and seeds refuse them first; this is the last guard).
    return None if value is None else json.dumps(value, allow_nan=False)


def _loads(value: str | None) -> Any:
    return None if value is None else json.loads(value)
