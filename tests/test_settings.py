"""Settings: every KB_* variable is typed and range-checked when the settings are made."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.errors import InvalidParameter
from kb.settings import Settings


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("KB_QUERY_TIMEOUT", "-1", "greater than 0"),
    ("KB_QUERY_TIMEOUT", "soon", "valid number"),
    ("KB_QUERY_WORKERS", "2.5", "valid integer"),
    ("KB_QUERY_WORKERS", "-3", "greater than or equal to 0"),
    ("KB_MAX_ROWS", "0", "greater than or equal to 1"),
    ("KB_REMOTE_UNION", "bag", "'server' or 'kept'"),
    ("KB_VALIDATE_WRITES", "maybe", "valid boolean"),
])
def test_a_bad_variable_is_named_with_its_value_and_what_would_be_right(
        monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidParameter) as e:
        Settings.from_env()
    assert str(e.value).startswith(f"{variable}: {value!r} is not a valid value")
    assert says in str(e.value)


def test_variables_are_read_and_keyword_arguments_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_ALLOW_HOSTS", " a.example, b.example ,")
    monkeypatch.setenv("KB_VALIDATE_WRITES", "yes")
    monkeypatch.setenv("KB_STORE", "from-env")
    monkeypatch.setenv("KB_UPDATE_TOKEN", "")  # empty: unset, as before
    settings = Settings.from_env(store="from-option", update_url=None)
    assert settings.allow_hosts == ("a.example", "b.example")
    assert settings.validate_writes is True
    assert settings.store == "from-option"
    assert settings.update_token is None
    # Settings() itself never reads the environment: a library user gets what they pass
    assert Settings().store == "var/store" and Settings().allow_hosts == ()


def test_keywords_are_checked_too_and_settings_do_not_change() -> None:
    with pytest.raises(InvalidParameter, match=r"^query_timeout: 0 is not a valid value"):
        Settings(query_timeout=0)
    with pytest.raises(InvalidParameter, match=r"^max_rowz: "):
        Settings(max_rowz=5)
    settings = Settings(store="memory")
    with pytest.raises(Exception, match="frozen"):
        settings.store = "elsewhere"  # type: ignore[misc]
    assert settings.replace(store="x").store == "x" and settings.store == "memory"
    with pytest.raises(InvalidParameter, match=r"^io_timeout: "):
        settings.replace(io_timeout=-2)


def test_the_cli_stops_at_start_up_on_a_bad_variable(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kb.cli import cli

    result = CliRunner().invoke(cli, ["--store", str(tmp_path / "s"), "stats"],
                                env={"KB_QUERY_MEMORY_BYTES": "lots"})
    assert result.exit_code == 1
    assert "KB_QUERY_MEMORY_BYTES: 'lots' is not a valid value" in result.output
    assert not (tmp_path / "s").exists()
