"""ASGI entry point for several uvicorn workers: settings come from the environment."""

from broadsheet.settings import Settings
from broadsheet.web.app import create_app

app = create_app(Settings())
