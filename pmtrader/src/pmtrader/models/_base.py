"""The base model and the field types every REST model shares."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict


class Model(BaseModel):
    """Base of every REST model: immutable, populated by production name or attribute name.

    Unknown fields are kept (``model_extra``) rather than dropped, so a field the venue adds
    tomorrow is still reachable today.
    """

    model_config = ConfigDict(
        frozen=True, extra="allow", populate_by_name=True, coerce_numbers_to_str=True
    )

    def to_wire(self) -> dict[str, Any]:
        """Return the model as the venue sends it: production field names, decimal strings."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _empty_to_none(value: object) -> object:
    return None if value == "" else value


def _json_list(value: object) -> object:
    # Gamma sends some list fields as JSON-encoded strings ("[\"Yes\", \"No\"]").
    if isinstance(value, str):
        if not value.strip():
            return []
        return json.loads(value)
    return value


def _int_from_str(value: object) -> object:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


#: A decimal that may arrive as ``""`` meaning "none".
OptDecimal = Annotated[Decimal | None, BeforeValidator(_empty_to_none)]
#: A list the venue may send JSON-encoded inside a string.
JsonList = BeforeValidator(_json_list)
#: An integer the venue may send as a decimal string (base units, timestamps).
IntStr = Annotated[int, BeforeValidator(_int_from_str)]
#: The same, optional (``""`` counts as absent).
OptIntStr = Annotated[int | None, BeforeValidator(_int_from_str), BeforeValidator(_empty_to_none)]
