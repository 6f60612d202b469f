"""The study dashboard: a read-only web app over the store (FastAPI, Plotly served locally)."""

from hashtune.dashboard.app import create_app, serve

__all__ = ["create_app", "serve"]
