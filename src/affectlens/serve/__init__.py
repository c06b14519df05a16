"""``affectlens serve``: REST jobs (FastAPI + SQLite), the web app, and live analysis over a WebSocket."""
