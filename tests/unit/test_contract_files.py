"""Files that must agree with the code: the published OpenAPI copy, and the layer's pinned requirements."""

import json
import tomllib
from pathlib import Path

from billing.api.app import openapi_document

ROOT = Path(__file__).resolve().parents[2]


def test_docs_openapi_copy_is_current():
    published = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert published == json.loads(openapi_document()), "docs/openapi.json is stale: run `make openapi`"


def test_layer_requirements_pin_what_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    layer = (ROOT / "layers" / "billing" / "requirements.txt").read_text().split()
    layer_pins = {line for line in layer if line and not line.startswith("#")}
    assert layer_pins == {dep for dep in project if not dep.startswith(("boto3", "botocore"))}  # the runtime's
