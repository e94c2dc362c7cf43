"""A service's typed settings and state: declared on the Service, read once at start-up,
reached through ``ctx.settings_of`` and ``ctx.state_of`` (a Context built in this process)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import msgspec
import pytest

from services.core.errors import ConfigError
from services.core.migrate import migrate
from services.core.runtime import running
from services.core.service import Context, Service
from services.core.settings import Settings
from tests.support import Servers, new_database

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class EchoConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    ENV_PREFIX: ClassVar[str] = "DEVFLOW_ECHO_"

    greeting: str = "hello"
    times: int = 1

    def __post_init__(self) -> None:
        if self.times < 1:
            raise ValueError("DEVFLOW_ECHO_TIMES: must be >= 1")


@dataclass(frozen=True)
class EchoState:
    said: str


@contextlib.asynccontextmanager
async def _lifespan(ctx: Context) -> AsyncIterator[None]:
    config = ctx.settings_of(EchoConfig)
    ctx.set_state(EchoState(said=" ".join([config.greeting] * config.times)))
    yield


ECHO = Service(name="echo", lifespan=_lifespan, settings=EchoConfig)


@pytest.fixture(scope="module")
def settings(servers: Servers) -> Settings:
    url = new_database(servers.pg_url)
    migrate(url)
    return Settings(database_url=url, nats_url=servers.shared_nats_url, db_pool_max=2)


async def test_settings_given_at_start_up_reach_the_lifespan_and_state(settings: Settings) -> None:
    configs = {EchoConfig: EchoConfig(greeting="hi", times=2)}
    async with running(settings, [ECHO], role="api", configs=configs) as ctx:
        assert ctx.settings_of(EchoConfig).greeting == "hi"
        assert ctx.state_of(EchoState).said == "hi hi"


async def test_without_given_settings_they_are_read_from_the_environment(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVFLOW_ECHO_TIMES", "3")
    async with running(settings, [ECHO], role="api") as ctx:
        assert ctx.state_of(EchoState).said == "hello hello hello"


async def test_a_bad_setting_stops_the_start_naming_its_variable(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVFLOW_ECHO_TIMES", "0")
    with pytest.raises(ConfigError, match="DEVFLOW_ECHO_TIMES"):
        async with running(settings, [ECHO], role="api"):
            pass


async def test_asking_for_what_is_not_there_says_so(settings: Settings) -> None:
    async with running(settings, [Service(name="bare")], role="api") as ctx:
        with pytest.raises(LookupError, match="EchoConfig"):
            ctx.settings_of(EchoConfig)
        with pytest.raises(LookupError, match="EchoState"):
            ctx.state_of(EchoState)
        made = ctx.state_or(EchoState, lambda: EchoState(said="once"))
        assert ctx.state_or(EchoState, lambda: EchoState(said="twice")) is made
        assert ctx.state_of(EchoState) is made
