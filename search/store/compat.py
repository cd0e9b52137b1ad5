"""The Whoosh release this package is written against, and the fixes its writers need.

``search.store`` reads and writes Whoosh 2.7.4's files through some of its internals (the W3
codec's block layout, per-document length columns, the TOC); another release may lay them out
differently, so importing ``search.store`` with any other Whoosh fails at once with
:class:`WhooshVersionError` instead of misreading an index later.

:func:`install` patches three Whoosh methods for the write path; :mod:`search.store.writer`
calls it when it opens a writer, so importing ``search`` alone leaves Whoosh as released.
"""

from __future__ import annotations

from typing import Any

import whoosh

from ..errors import XunwenError

__all__ = ["WHOOSH_VERSION", "WhooshVersionError", "check_version", "install", "installed"]

WHOOSH_VERSION = "2.7.4"


class WhooshVersionError(XunwenError, ImportError):
    """The installed Whoosh is not the release ``search.store`` is written against."""


def check_version(found: str | None = None) -> None:
    """Raise WhooshVersionError unless the installed Whoosh is :data:`WHOOSH_VERSION`."""
    found = whoosh.versionstring() if found is None else found
    if found != WHOOSH_VERSION:
        raise WhooshVersionError(
            f"xunwen needs Whoosh {WHOOSH_VERSION} (it reads and writes that release's index files), "
            f"but Whoosh {found} is installed: run `pip install whoosh=={WHOOSH_VERSION}`"
        )


check_version()


def installed() -> bool:
    """True once :func:`install` has patched Whoosh in this process."""
    from whoosh import writing

    return bool(getattr(writing.SegmentWriter, "_xunwen_fast", False))


def install() -> None:
    """Patch Whoosh's write path (idempotent): cached field lengths in ``SegmentWriter``'s flush,
    the misspelt inline-list method of ``W3TermInfo``, and ``ListMatcher.value`` of inline lists
    without values."""
    from whoosh import writing

    from .readers import FieldLengths

    if installed():
        return

    def _flush_segment(self: Any) -> None:  # same steps as Whoosh 2.7.4, cached lengths
        self.perdocwriter.close()
        pdr = self.per_document_reader() if self.codec.length_stats else None
        self.fieldwriter.add_postings(self.schema, FieldLengths(pdr) if pdr else None,
                                      self.pool.iter_postings())
        self.fieldwriter.close()
        if pdr:
            pdr.close()

    writing.SegmentWriter._flush_segment = _flush_segment
    writing.SegmentWriter._xunwen_fast = True
    # Whoosh 2.7.4 calls a misspelt method when a posting list is short enough to be stored
    # inline in its term entry; with the name fixed, short lists skip the postings file.
    from whoosh.codec import whoosh3

    if not hasattr(whoosh3.W3TermInfo, "set_inline"):
        whoosh3.W3TermInfo.set_inline = whoosh3.W3TermInfo.set_inlined
    # ...and an inline list without values (existence fields) answers "" where a merge
    # expects bytes.
    from whoosh.matching import mcore

    list_value = mcore.ListMatcher.value

    def _value(self: Any) -> Any:  # Whoosh's signature
        v = list_value(self)
        return b"" if v == "" else v

    mcore.ListMatcher.value = _value
