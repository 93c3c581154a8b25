"""Typed request input from marshmallow schemas, declared next to each handler."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import request
from flask_login import current_user
from marshmallow import Schema

from server.auth.models import User
from server.errors import AppError

F = TypeVar("F", bound=Callable[..., Any])


def use_schema(schema_cls: type[Schema], location: str = "query") -> Callable[[F], F]:
    """Load the query string or JSON body with ``schema_cls`` and pass the fields as kwargs."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if location == "json":
                source = request.get_json(silent=True)
                if not isinstance(source, dict):
                    raise AppError("request.invalid", "Send a JSON object.")
            else:
                source = request.args.to_dict()
            kwargs.update(schema_cls().load(source))
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def caller() -> User:
    user: User = current_user._get_current_object()
    return user
