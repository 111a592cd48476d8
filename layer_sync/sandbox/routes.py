"""The sandbox's endpoints: what a request that got past the key, the limits and the faults
is answered, as (status, payload), over the store and the list's answers.

`GET`/`POST /target-materials`, `POST`/`PATCH /target-materials/layers` and
`PATCH /target-materials/{sample_id}` (a rename); any other path is a 404, any other method
a 405, a body the API would refuse a 422 with its `detail`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from .bodies import (
    ONE_TARGET_MATERIAL,
    Unprocessable,
    parse_json,
    require_int,
    validate_layer,
    validate_sample_changes,
)
from .listing import Listing
from .store import NotFound, Store


def route(store: Store, listing: Listing, url: str, method: str, path: str,
          body: bytes) -> tuple[int, Any]:
    """The answer to `method path` with `body`: the list as `listing` answers it (its links
    to pages under `url`), or what a write did to `store`."""
    query = urlsplit(path).query
    path = urlsplit(path).path.rstrip("/")
    one = ONE_TARGET_MATERIAL.fullmatch(path)
    if one and one["id"] != "layers":
        return _route_one(store, method, one["id"], body)
    if path not in ("/target-materials", "/target-materials/layers"):
        return 404, {"detail": "Not Found"}
    allowed = {"/target-materials": ("GET", "POST"),
               "/target-materials/layers": ("POST", "PATCH")}[path]
    if method not in allowed:
        return 405, {"detail": "Method Not Allowed"}
    if method == "GET":
        return 200, listing.answer(store.list_json(), query, url)
    try:
        data = parse_json(body) if body else None
        if path == "/target-materials":
            return 200, _create_target_material(store, data)
        layer = validate_layer(data)
        if method == "POST":
            return 200, store.create_layer(layer)
        changes = {k: v for k, v in layer.items() if k not in ("sample_id", "layer_id", "id")}
        return 200, store.update_layer(layer["sample_id"], layer["layer_id"], changes)
    except Unprocessable as exc:
        return 422, {"detail": str(exc)}
    except NotFound as exc:
        return 404, {"detail": str(exc)}


def _route_one(store: Store, method: str, sample_id: str, body: bytes) -> tuple[int, Any]:
    """`/target-materials/{sample_id}`: only PATCH (a rename) is served."""
    if method != "PATCH":
        return 405, {"detail": "Method Not Allowed"}
    try:
        if not re.fullmatch(r"-?[0-9]+", sample_id):
            raise Unprocessable(f"sample_id: value is not a valid integer ({sample_id!r})")
        number = int(sample_id)
        require_int({"sample_id": number}, "sample_id")
        data = parse_json(body) if body else None
        changes = validate_sample_changes(data, number)
        return 200, store.update_target_material(number, changes)
    except Unprocessable as exc:
        return 422, {"detail": str(exc)}
    except NotFound as exc:
        return 404, {"detail": str(exc)}


def _create_target_material(store: Store, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("sample"), dict):
        raise Unprocessable("sample: field required (an object with sample_name)")
    sample = data["sample"]
    if not isinstance(sample.get("sample_name"), str) or not sample["sample_name"].strip():
        raise Unprocessable("sample.sample_name: field required")
    if sample.get("substrate") is not None and not isinstance(sample["substrate"], str):
        raise Unprocessable("sample.substrate: value is not a valid string")
    layers = data.get("layers") or []
    if not isinstance(layers, list):
        raise Unprocessable("layers: must be an array of layers")
    checked = [validate_layer(layer, need_sample=False) for layer in layers]
    return store.create_target_material(
        {k: sample.get(k) for k in ("sample_name", "substrate", "sample_metadata")}, checked)
