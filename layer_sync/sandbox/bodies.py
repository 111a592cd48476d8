"""The sandbox's checks of request bodies: what the API answers 422 for."""

from __future__ import annotations

import json
import math
import re
from typing import Any

#: The range of the API's integer columns (layer_id, sample_id, id): 32-bit signed.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
_LAYER_TEXT_FIELDS = ("composition_string", "orientation", "space_group", "mp_id")


class Unprocessable(ValueError):
    """A malformed body: the server answers 422 naming the field."""


def _refuse(token: str) -> float:
    raise ValueError(f"{token} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is too large for a number")
    return number


def parse_json(data: bytes | str, what: str = "body: ") -> Any:
    """A request body or a seed file as JSON, strictly: NaN, Infinity and numbers past a
    double's range are refused (SQLite, which writes the list's JSON, cannot hold them).
    Raises Unprocessable."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise Unprocessable(f"{what}invalid JSON (not UTF-8: {exc.reason})") from None
    try:
        parsed = json.loads(data, parse_constant=_refuse, parse_float=_finite)
        # A lone surrogate escape (\\ud800) is valid JSON but no text SQLite can store.
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
        return parsed
    except RecursionError:
        raise Unprocessable(f"{what}invalid JSON (nested too deeply)") from None
    except UnicodeEncodeError:
        raise Unprocessable(f"{what}invalid JSON (a lone surrogate escape is no text)") from None
    except ValueError as exc:  # json.JSONDecodeError included
        raise Unprocessable(f"{what}invalid JSON ({exc})") from None


#: What a seed entry's fields may hold, by the column that keeps them.
_SEED_INTEGERS = ("id", "sample_id", "layer_id", "version", "detail_notes_id")
_SEED_TEXTS = ("sample_name", "substrate", "composition_string", "orientation", "space_group",
               "mp_id", "detail_note_content", "user_id", "user_name", "last_updated")
_INT64 = 2**63


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validate_seed(entries: Any) -> list[dict[str, Any]]:
    """A seed (shaped like the list endpoint's answer), checked whole before any of it is
    stored, so that a bad seed is one clear error and never half loaded. Raises Unprocessable."""
    if not isinstance(entries, list):
        raise Unprocessable(f"a seed is a JSON array of entries, not {type(entries).__name__}")
    ids: set[int] = set()
    for number, entry in enumerate(entries, start=1):
        try:
            _check_seed_entry(entry, ids)
        except Unprocessable as exc:
            raise Unprocessable(f"entry {number}: {exc}") from None
    return entries


def _check_seed_entry(entry: Any, ids: set[int]) -> None:
    if not isinstance(entry, dict):
        raise Unprocessable(f"an object is required, not {type(entry).__name__}")
    for name in _SEED_INTEGERS:
        value = entry.get(name)
        if value is None:
            if name == "sample_id":
                raise Unprocessable("sample_id: field required")
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise Unprocessable(f"{name}: value is not a valid integer ({value!r})")
        if not -_INT64 <= value < _INT64:
            raise Unprocessable(f"{name}: {value} is out of range")
    for name in _SEED_TEXTS:
        value = entry.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int, float))
                                  or (isinstance(value, float) and not math.isfinite(value))
                                  or (isinstance(value, int) and not -_INT64 <= value < _INT64)):
            raise Unprocessable(f"{name}: value is not a valid string ({value!r})")
        if isinstance(value, str) and not _encodable(value):
            raise Unprocessable(f"{name}: a lone surrogate is no text")
    for name in ("element_dict", "sample_metadata"):
        try:
            json.dumps(entry.get(name), allow_nan=False, ensure_ascii=False).encode("utf-8")
        except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
            raise Unprocessable(f"{name}: not storable as JSON ({type(exc).__name__})") from None
    record_id = entry.get("id")
    if record_id is not None and entry.get("layer_id") is not None:
        if record_id in ids:
            raise Unprocessable(f"id: record id {record_id} is given twice")
        ids.add(record_id)


def require_int(body: dict[str, Any], name: str, required: bool = True) -> None:
    if name not in body or body[name] is None:
        if required:
            raise Unprocessable(f"{name}: field required")
        return
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unprocessable(f"{name}: value is not a valid integer ({value!r})")
    if not INT32_MIN <= value <= INT32_MAX:
        raise Unprocessable(f"{name}: {value} is out of range (the API stores 32-bit integers, "
                            f"{INT32_MIN} to {INT32_MAX})")


def validate_layer(body: Any, need_sample: bool = True) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Unprocessable("body: a JSON object is required")
    require_int(body, "layer_id")
    require_int(body, "sample_id", required=need_sample)
    require_int(body, "id", required=False)
    for name in _LAYER_TEXT_FIELDS:
        if body.get(name) is not None and not isinstance(body[name], str):
            raise Unprocessable(f"{name}: value is not a valid string ({body[name]!r})")
    elements = body.get("element_dict")
    if elements is not None and (not isinstance(elements, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and abs(v) <= INT32_MAX for v in elements.values())):
        raise Unprocessable("element_dict: must be an object of element: number (finite, "
                            f"at most {INT32_MAX})")
    return {k: body[k] for k in ("id", "layer_id", "sample_id", "element_dict", *_LAYER_TEXT_FIELDS)
            if k in body}


#: The body fields of `PATCH /target-materials/{sample_id}`, as the API reference lists them.
_SAMPLE_PATCH_FIELDS = ("sample_name", "substrate", "sample_id", "sample_metadata")
ONE_TARGET_MATERIAL = re.compile(r"/target-materials/(?P<id>[^/]+)")


def validate_sample_changes(body: Any, sample_id: int) -> dict[str, Any]:
    """A rename's body -> the fields to change. Stricter than the reference needs to be, so
    that a client sending anything else (a blank name, the layers) is caught here."""
    if not isinstance(body, dict):
        raise Unprocessable("body: a JSON object is required")
    unknown = sorted(k for k in body if k not in _SAMPLE_PATCH_FIELDS)
    if unknown:
        raise Unprocessable(f"{unknown[0]}: unknown field (send any of "
                            f"{', '.join(_SAMPLE_PATCH_FIELDS)})")
    if "sample_id" in body:
        require_int(body, "sample_id")
        if body["sample_id"] != sample_id:
            raise Unprocessable(f"sample_id: {body['sample_id']} differs from the path's "
                                f"{sample_id} (a target material's id cannot be changed)")
    if "sample_name" in body and (not isinstance(body["sample_name"], str)
                                  or not body["sample_name"].strip()):
        raise Unprocessable("sample_name: must be a non-blank string")
    if body.get("substrate") is not None and not isinstance(body["substrate"], str):
        raise Unprocessable(f"substrate: value is not a valid string ({body['substrate']!r})")
    if body.get("sample_metadata") is not None and not isinstance(body["sample_metadata"], dict):
        raise Unprocessable("sample_metadata: must be an object")
    return {k: body[k] for k in ("sample_name", "substrate", "sample_metadata") if k in body}
