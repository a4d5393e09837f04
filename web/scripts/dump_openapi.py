"""Writes the API's OpenAPI document (`create_app().openapi()`) as JSON, the input of the
dashboard's generated client: `uv run python web/scripts/dump_openapi.py web/openapi.json`."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from dalgo.api.main import create_app
from dalgo.settings import Settings


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document; it does not depend on settings, so a scratch home serves."""
    with tempfile.TemporaryDirectory() as home:
        return create_app(Settings(home=Path(home))).openapi()


def openapi_json() -> str:
    """The document as the stable, indented JSON text kept in web/openapi.json."""
    return json.dumps(openapi_document(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "openapi.json"
    target.write_text(openapi_json())
