"""Errors named for what the runner should do with them.

`TransientError`: try again later (timeouts, 429/5xx, search server down).
`PermanentError`: record it and move on (404/410, not an article, refused by robots.txt or safety).
Every error carries a short machine-readable `kind` that is stored with the failure.
"""

from __future__ import annotations


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
