"""The Whoosh schema and its version.

Whoosh pickles the schema (field classes and analyzers included) into the index, so
the module paths ``search.schema`` and ``search.analysis`` are part of the on-disk
format. Bump :data:`SCHEMA_VERSION` whenever a field, its analysis or its meaning
changes: an index written under another version is refused with a clear message.
"""

from __future__ import annotations

from whoosh.fields import ID, KEYWORD, NUMERIC, STORED, TEXT, Schema
from whoosh.formats import Existence, Positions

from .analysis import JiebaTokenizer, term_positions

__all__ = ["SCHEMA_VERSION", "READABLE_VERSIONS", "JiebaText", "make_schema", "TITLE_BOOST"]

# 4: a character index beside each segment (search.chars);
# 5: title and body words without positions (search.ranking's proximity reads the stored text)
SCHEMA_VERSION = 5
# Versions this code serves and updates as they are: a version-4 index keeps its word positions
# (written and merged as before, never read); `xunwen reindex --rebuild` makes it version 5.
READABLE_VERSIONS = (4, 5)
TITLE_BOOST = 2.5


_SINGLE: dict[int, bytes] = {}  # encoded one-position lists, by position


class JiebaText(TEXT):
    """A TEXT field analysed by our jieba tokenizer, with a fast ``index()``.

    The default ``TEXT.index`` builds a Whoosh ``Token`` per word; here the postings
    (term → positions) come straight from :func:`search.analysis.analyze`, which is the
    same tokenizer the field's ``analyzer`` runs, so query-time Whoosh code paths (e.g.
    highlighting) still agree with what was indexed.

    Postings keep the document and the weight (term frequency × field boost), not the word
    positions (``Existence`` values are empty): exact text is matched by the character index
    (search.chars) and word proximity is measured on the stored text of the best candidates,
    so positions were only read by that rerank, yet they were about four fifths of Whoosh's
    postings file (session 12: 281.7 MiB of a 979.8 MiB index at 72k). Fields unpickled from a
    version-4 index keep their ``Positions`` format and are written as before.
    """

    def __init__(self, stored: bool = False, field_boost: float = 1.0):
        super().__init__(analyzer=JiebaTokenizer("search"), phrase=False, stored=stored,
                         field_boost=field_boost)
        self.format = Existence(field_boost=field_boost)

    def index(self, value, **kwargs):
        """Return ``(term bytes, freq, weight, encoded value)`` for each distinct term."""
        from .normalize import fold

        poses = term_positions(fold(value).text)
        fmt = self.format
        fb = fmt.field_boost
        if type(fmt) is not Positions:
            for term, pl in poses.items():
                yield term.encode("utf-8"), len(pl), len(pl) * fb, b""
            return
        enc = fmt.encode
        for term, pl in poses.items():
            if len(pl) == 1:  # most words occur once: reuse the (identical) encoded bytes
                p = pl[0]
                v = _SINGLE.get(p)
                if v is None:
                    v = _SINGLE.setdefault(p, enc(pl)) if p < 1 << 16 else enc(pl)
                yield term.encode("utf-8"), 1, fb, v
            else:
                yield term.encode("utf-8"), len(pl), len(pl) * fb, enc(pl)


def make_schema() -> Schema:
    """Return a fresh schema for a new index."""
    return Schema(
        id=ID(stored=True, unique=True),
        url=STORED(),
        site=ID(),  # URL host without "www.", for site:
        title=JiebaText(stored=True, field_boost=TITLE_BOOST),
        body=JiebaText(stored=True),
        published=NUMERIC(bits=64, signed=True, stored=True, sortable=True),  # epoch seconds; 0 = unknown
        month=ID(sortable=True),  # YYYY-MM in Asia/Shanghai, "" when unknown
        source=ID(stored=True, sortable=True),
        category=ID(stored=True, sortable=True),
        region=KEYWORD(stored=True, commas=True, scorable=False),
        regions=ID(sortable=True),  # the same joined with "|", as a column for facets
        authors=KEYWORD(stored=True, commas=True, scorable=False),
        cluster=ID(stored=True, sortable=True),
        dupkeys=KEYWORD(commas=True, scorable=False),
        dupsig=STORED(),
        dateline=STORED(),
        lang=STORED(),
        origin=STORED(),
    )

