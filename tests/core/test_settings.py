"""``Settings.from_env``: read once from ``DEVFLOW_*``; every error names the variable to fix."""

from __future__ import annotations

import msgspec
import pytest

from services.core.errors import ConfigError
from services.core.settings import Settings


def test_defaults_without_any_variable() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.port == 8000
    assert settings.host == "127.0.0.1"
    assert settings.database_url is None
    assert settings.log_level == "INFO"


def test_values_are_read_and_converted() -> None:
    settings = Settings.from_env(
        {
            "DEVFLOW_PORT": "9001",
            "DEVFLOW_HOST": "0.0.0.0",
            "DEVFLOW_DATABASE_URL": "postgresql://u@h/db",
            "DEVFLOW_LOG_LEVEL": "DEBUG",
            "DEVFLOW_LOG_FORMAT": "text",
            "DEVFLOW_PUBLISH_TIMEOUT_S": "2.5",
            "DEVFLOW_EVENTS_RETENTION_DAYS": "30",
        }
    )
    assert settings.port == 9001
    assert settings.host == "0.0.0.0"
    assert settings.database_url == "postgresql://u@h/db"
    assert settings.log_level == "DEBUG"
    assert settings.log_format == "text"
    assert settings.publish_timeout_s == 2.5
    assert settings.events_retention_days == 30


def test_other_variables_and_empty_values_are_ignored() -> None:
    settings = Settings.from_env(
        {"PORT": "1", "DEVFLOW_PORT": "", "HOME": "/root", "DEVFLOW_": "x", "XDEVFLOW_PORT": "2"}
    )
    assert settings.port == 8000


def test_overrides_win_and_none_means_not_given() -> None:
    env = {"DEVFLOW_PORT": "9001", "DEVFLOW_HOST": "10.0.0.1"}
    settings = Settings.from_env(env, port=9100, host=None)
    assert (settings.port, settings.host) == (9100, "10.0.0.1")


def test_reads_the_process_environment_when_no_mapping_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEVFLOW_PORT", "9123")
    assert Settings.from_env().port == 9123


def test_settings_are_frozen() -> None:
    settings = Settings.from_env({})
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]
    assert msgspec.structs.replace(settings, port=1).port == 1


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEVFLOW_PORT", "abc"),
        ("DEVFLOW_PORT", "80.5"),
        ("DEVFLOW_PORT", " 80"),
        ("DEVFLOW_DB_POOL_MAX", "many"),
        ("DEVFLOW_PUBLISH_TIMEOUT_S", "soon"),
        ("DEVFLOW_LOG_LEVEL", "verbose"),
        ("DEVFLOW_LOG_LEVEL", "info"),
        ("DEVFLOW_LOG_FORMAT", "xml"),
        ("DEVFLOW_OTEL_EXPORTER", "jaeger"),
    ],
)
def test_a_malformed_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as exc:
        Settings.from_env({variable: value})
    message = str(exc.value)
    assert variable in message
    assert message.startswith("invalid setting")
    assert "\n" not in message


def test_an_enum_error_says_what_was_given() -> None:
    with pytest.raises(ConfigError, match="verbose"):
        Settings.from_env({"DEVFLOW_LOG_LEVEL": "verbose"})


@pytest.mark.parametrize(
    ("env", "mentions"),
    [
        ({"DEVFLOW_PORT": "0"}, "port"),
        ({"DEVFLOW_PORT": "65536"}, "port"),
        ({"DEVFLOW_DB_POOL_MIN": "0"}, "db_pool_min"),
        ({"DEVFLOW_DB_POOL_MIN": "5", "DEVFLOW_DB_POOL_MAX": "2"}, "db_pool_max"),
        ({"DEVFLOW_EVENTS_RETENTION_DAYS": "-1"}, "events_retention_days"),
        ({"DEVFLOW_PARTITIONS_AHEAD_DAYS": "400"}, "partitions_ahead_days"),
        ({"DEVFLOW_WRITER_FETCH_BATCH": "0"}, "writer_fetch_batch"),
        ({"DEVFLOW_WRITER_MAX_DELIVER": "1"}, "writer_max_deliver"),
        ({"DEVFLOW_PUBLISH_TIMEOUT_S": "0"}, "publish_timeout_s"),
        ({"DEVFLOW_OTEL_EXPORTER": "otlp"}, "otel_endpoint"),
    ],
)
def test_an_out_of_range_value_is_refused(env: dict[str, str], mentions: str) -> None:
    with pytest.raises(ConfigError) as exc:
        Settings.from_env(env)
    assert mentions in str(exc.value)
    assert str(exc.value).startswith("invalid setting")


def test_an_out_of_range_value_names_its_variable() -> None:
    with pytest.raises(ConfigError, match="DEVFLOW_PORT"):
        Settings.from_env({"DEVFLOW_PORT": "70000"})


def test_a_nan_timeout_is_refused() -> None:
    with pytest.raises(ConfigError, match="DEVFLOW_PUBLISH_TIMEOUT_S"):
        Settings.from_env({"DEVFLOW_PUBLISH_TIMEOUT_S": "nan"})


def test_otlp_with_an_endpoint_is_fine() -> None:
    settings = Settings.from_env(
        {"DEVFLOW_OTEL_EXPORTER": "otlp", "DEVFLOW_OTEL_ENDPOINT": "http://collector:4318"}
    )
    assert settings.otel_exporter == "otlp"


def test_data_path_is_absolute() -> None:
    settings = Settings.from_env({"DEVFLOW_DATA_DIR": "some/relative/dir"})
    assert settings.data_path.is_absolute()
    assert settings.data_path.parts[-3:] == ("some", "relative", "dir")


def test_an_unknown_variable_is_reported_not_fatal(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings.from_env({"DEVFLOW_PROT": "9000", "DEVFLOW_PORT": "9001"})
    assert settings.port == 9001
    err = capsys.readouterr().err
    assert "DEVFLOW_PROT" in err
    assert "DEVFLOW_PORT" in err  # the known names are listed
