"""Domain errors raised by the core library and translated at the edges (web, CLI)."""

from __future__ import annotations

__all__ = [
    "XunwenError",
    "BadQuery",
    "IndexMissing",
    "IndexIncompatible",
    "IndexBusy",
    "IndexWriteFailed",
    "ExtractError",
    "NotFound",
]


class XunwenError(Exception):
    """Base class of every error the library raises on purpose."""


class BadQuery(XunwenError, ValueError):
    """A request that cannot be answered as given (bad parameter, window too deep)."""


class IndexMissing(XunwenError):
    """No index exists at the configured directory."""


class IndexIncompatible(XunwenError):
    """The index on disk was written by another schema version."""


class IndexBusy(XunwenError):
    """Another writer holds the index lock."""


class IndexWriteFailed(XunwenError):
    """Writing the index failed part-way (e.g. a writer process died); nothing was committed."""


class ExtractError(XunwenError):
    """An input could not be turned into an article (the reason is the message)."""


class NotFound(XunwenError, KeyError):
    """No article with the requested id."""

    def __str__(self) -> str:  # KeyError quotes its message; we do not want that
        return str(self.args[0]) if self.args else "not found"
