"""Running Alembic from the application (the CLI and the tests use the same path)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

_ROOT_CANDIDATES = (Path(__file__).resolve().parents[3], Path.cwd())


def alembic_config(database_url: str) -> Config:
    for root in _ROOT_CANDIDATES:
        ini = root / "alembic.ini"
        if ini.exists():
            cfg = Config(str(ini))
            cfg.set_main_option("sqlalchemy.url", database_url)
            return cfg
    raise FileNotFoundError("alembic.ini not found next to the source tree or in the working directory")


def upgrade(database_url: str, revision: str = "head") -> None:
    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), revision)
