"""The services tests work below the app, as the cases tests do, on the same fixtures."""

from tests.cases.conftest import engine, session

__all__ = ["engine", "session"]
