"""Settings: the kernel's (``Settings.from_env``) and each service's (``read``), read once from
``DEVFLOW_*``; every error is one line naming the variable to fix."""

from __future__ import annotations

import msgspec
import pytest

from services.billing.config import BillingConfig
from services.churn.config import ChurnConfig
from services.cli import registry
from services.core.errors import ConfigError
from services.core.settings import Settings, env_names, read, read_all
from services.experiments.config import ExperimentsConfig
from services.flags.config import FlagsConfig
from services.ingest.config import IngestConfig
from services.insights.config import InsightsConfig
from services.replay.config import ReplayConfig


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
        }
    )
    assert settings.port == 9001
    assert settings.host == "0.0.0.0"
    assert settings.database_url == "postgresql://u@h/db"
    assert settings.log_level == "DEBUG"
    assert settings.log_format == "text"
    assert settings.publish_timeout_s == 2.5


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


# --- each service's settings ----------------------------------------------------------------------

SERVICE_SETTINGS = [
    IngestConfig,
    FlagsConfig,
    ExperimentsConfig,
    ReplayConfig,
    BillingConfig,
    InsightsConfig,
    ChurnConfig,
]


def test_each_service_declares_its_settings_and_the_registry_knows_them() -> None:
    services = registry.load(list(registry.AVAILABLE))
    assert [s.settings for s in services] == registry.settings_classes() == SERVICE_SETTINGS
    # No two services, nor a service and the kernel, read the same variable.
    names = [env_names(Settings), *(env_names(c) for c in SERVICE_SETTINGS)]
    assert sum(len(n) for n in names) == len(set().union(*names))


@pytest.mark.parametrize("cls", SERVICE_SETTINGS)
def test_service_settings_default_and_are_frozen(cls: type[msgspec.Struct]) -> None:
    settings = read(cls, {})
    assert settings == cls()
    with pytest.raises(AttributeError):
        settings.x = 1  # type: ignore[attr-defined]


def test_ingest_keeps_the_variable_names_it_had_as_kernel_settings() -> None:
    env = {
        "DEVFLOW_EVENTS_RETENTION_DAYS": "30",
        "DEVFLOW_PARTITIONS_AHEAD_DAYS": "3",
        "DEVFLOW_WRITER_FETCH_BATCH": "8",
        "DEVFLOW_CAPTURE_IP": "false",
        "DEVFLOW_PORT": "9001",  # the kernel's: not ingest's business
    }
    assert read(IngestConfig, env) == IngestConfig(
        events_retention_days=30, partitions_ahead_days=3, writer_fetch_batch=8, capture_ip=False
    )


def test_replay_reads_its_prefix() -> None:
    config = read(ReplayConfig, {"DEVFLOW_REPLAY_ZSTD_LEVEL": "3", "DEVFLOW_FETCH_BATCH": "1"})
    assert (config.zstd_level, config.fetch_batch) == (3, 64)


@pytest.mark.parametrize(
    ("cls", "variable", "value"),
    [
        (IngestConfig, "DEVFLOW_EVENTS_RETENTION_DAYS", "-1"),
        (IngestConfig, "DEVFLOW_PARTITIONS_AHEAD_DAYS", "400"),
        (IngestConfig, "DEVFLOW_WRITER_FETCH_BATCH", "0"),
        (IngestConfig, "DEVFLOW_WRITER_FETCH_BATCH", "lots"),
        (IngestConfig, "DEVFLOW_CAPTURE_IP", "perhaps"),
        (ReplayConfig, "DEVFLOW_REPLAY_ZSTD_LEVEL", "99"),
        (ChurnConfig, "DEVFLOW_CHURN_TOP_FLAGS", "101"),
        (ReplayConfig, "DEVFLOW_REPLAY_ZSTD_LEVEL", "high"),
        (ReplayConfig, "DEVFLOW_REPLAY_RETENTION_DAYS", "0"),
        (ReplayConfig, "DEVFLOW_REPLAY_COMPACT_AFTER_S", "-1"),
        (ReplayConfig, "DEVFLOW_REPLAY_FETCH_BATCH", "5000"),
        (FlagsConfig, "DEVFLOW_FLAGS_READ_POOL_MAX", "-1"),
        (FlagsConfig, "DEVFLOW_FLAGS_STREAM_KEEPALIVE_S", "0"),
        (ExperimentsConfig, "DEVFLOW_EXPERIMENTS_REFRESH_INTERVAL_S", "soon"),
    ],
)
def test_a_bad_service_setting_is_one_line_naming_its_variable(
    cls: type[msgspec.Struct], variable: str, value: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        read_all([IngestConfig, cls], {variable: value})
    message = str(exc.value)
    assert message.startswith(f"invalid setting {variable}"), message
    assert "\n" not in message


def test_declared_service_variables_are_not_warned_about(
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = {
        "DEVFLOW_REPLAY_ZSTD_LEVEL": "3",
        "DEVFLOW_WRITER_FETCH_BATCH": "8",
        "DEVFLOW_REPLAY_ZSTD_LEVL": "3",
    }
    Settings.from_env(env, declared=SERVICE_SETTINGS)
    err = capsys.readouterr().err
    assert "DEVFLOW_REPLAY_ZSTD_LEVL" in err
    assert "DEVFLOW_REPLAY_ZSTD_LEVEL," not in err.split(";")[0]
    assert "DEVFLOW_WRITER_FETCH_BATCH," not in err.split(";")[0]
    Settings.from_env({k: v for k, v in env.items() if "LEVL" not in k}, declared=SERVICE_SETTINGS)
    assert capsys.readouterr().err == ""
