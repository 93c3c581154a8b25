"""Run the app under gunicorn from `casework serve` (no separate config file needed)."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from server import create_app

        return create_app()


def run(*, host: str, port: int, workers: int, threads: int) -> None:
    _Gunicorn(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread" if threads > 1 else "sync",
            # Collect waits 60 s for an answer; a stuck worker is recycled before that.
            "timeout": 55,
            "accesslog": "-",
            "preload_app": False,
        }
    ).run()
