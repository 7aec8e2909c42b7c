"""The README's configuration table is generated from the settings and cannot drift."""

from __future__ import annotations

from pathlib import Path

from metricx.config import Settings
from metricx.ops.config_reference import block, current_block, table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_configuration_table_matches_the_settings() -> None:
    found = current_block(README.read_text())
    assert found is not None, "README.md lost its config-reference block"
    assert found == block(), "the README's configuration table is stale: run `make docs`"


def test_every_setting_is_documented() -> None:
    rendered = table()
    for name, field in Settings.model_fields.items():
        assert f"`METRICX_{name.upper()}`" in rendered
        assert field.description, f"Settings.{name} needs a description"
