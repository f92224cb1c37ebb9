"""Errors named for what the runner should do with them.

`TransientError`: try again later (timeouts, 429/5xx, search server down).
`PermanentError`: record it and move on (404/410, not an article, refused by robots.txt or safety).
Every error carries a short machine-readable `kind` that is stored with the failure. Retry or
fail is decided by type, in one place: `RETRY_POLICY` / `retry_action`.
"""

from __future__ import annotations

from typing import Literal


class MediamonError(Exception):
    """Base of every error the pipeline raises on purpose."""

    kind: str = "error"

    def __init__(self, message: str, *, kind: str | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind

    @property
    def message(self) -> str:
        """The human-readable reason."""
        return str(self.args[0]) if self.args else self.kind


class TransientError(MediamonError):
    """Worth retrying later: the same request may well succeed."""

    kind = "transient"


class PermanentError(MediamonError):
    """Retrying will not help: record the reason and move on."""

    kind = "permanent"


class ConfigError(PermanentError):
    """A settings, registry or taxonomy file is malformed.

    The message names the file, the entry and the field.
    """

    kind = "config"


RetryVerdict = Literal["retry", "fail", "default"]

# The one table of what a scheduler does with a task that raised one of our errors: transient
# ones are retried (with the task's backoff), permanent ones fail at once; anything else (a bug)
# gets the scheduler's default. The Airflow DAGs build their retry policy from this table.
RETRY_POLICY: tuple[tuple[type[MediamonError], RetryVerdict], ...] = (
    (PermanentError, "fail"),
    (TransientError, "retry"),
)


def retry_action(error: BaseException) -> RetryVerdict:
    """What `RETRY_POLICY` says about `error` (first matching type wins)."""
    for error_type, verdict in RETRY_POLICY:
        if isinstance(error, error_type):
            return verdict
    return "default"
