"""Domain errors carry their HTTP status, so the web layer maps them without knowing the domain."""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    status_code = 400
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class ValidationFailed(DomainError):
    status_code = 422
    code = "validation_failed"

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors

    def __reduce__(self) -> tuple[type[ValidationFailed], tuple[list[FieldError]]]:
        return type(self), (self.errors,)  # as it was made: it travels from the writer (kit/writer.py)


class NotAuthenticated(DomainError):
    status_code = 401
    code = "not_authenticated"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class TooManyAttempts(DomainError):
    status_code = 429
    code = "too_many_attempts"
