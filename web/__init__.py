"""The web side: the HTTP API and the page (`python serve.py`), on ensemble.reading's path."""
from .app import create_app

__all__ = ["create_app"]
