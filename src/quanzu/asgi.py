"""ASGI entry point for multi-process servers (`uvicorn quanzu.asgi:app --workers N`)."""

from quanzu.app import create_app
from quanzu.config import Settings

app = create_app(Settings())
