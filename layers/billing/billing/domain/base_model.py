"""The project's one pydantic base: every model's validator and serializer are built at first use, not at import.

pydantic builds a model's core schema, validator and serializer when its class statement runs; for the ~160 models
the layer defines that is most of what importing them costs, and most functions validate a handful of them.
``defer_build=True`` moves that work to the model's first ``model_validate``/``model_dump``/``model_json_schema``
(once per process; under SnapStart before the snapshot, by the warmers). Validation, errors and JSON Schemas are
the same (tests/unit/test_cold_start.py holds it, docs/openapi.json is unchanged). Import ``BaseModel`` from here
wherever a model is defined; a model's own ``model_config`` merges with this one.
"""

from __future__ import annotations

from pydantic import BaseModel as PydanticBaseModel
from pydantic import ConfigDict


class BaseModel(PydanticBaseModel):
    model_config = ConfigDict(defer_build=True)
