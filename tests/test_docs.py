"""The README documents every setting and its quick start names commands that exist."""

from __future__ import annotations

from broadsheet.settings import Settings
from tests.fixtures.paths import REPO_ROOT


def test_every_setting_has_help_and_is_in_the_readme() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no line of help"
        assert f"`BROADSHEET_{name.upper()}`" in readme, f"setting {name} is missing from the README"


def test_quick_start_commands_exist_and_ci_runs_the_test_command() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert "./scripts/run" in readme and "./scripts/test" in readme
    assert (REPO_ROOT / "scripts" / "run").exists() and (REPO_ROOT / "scripts" / "test").exists()
    assert "scripts/test" in (REPO_ROOT / ".ci" / "run").read_text()


def test_placeholder_secret_is_refused_outside_development() -> None:
    import pytest

    with pytest.raises(ValueError, match="SECRET_KEY"):
        Settings(environment="production")
    assert Settings(environment="development").secret_key
