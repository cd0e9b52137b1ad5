"""The Whoosh schema and its version.

Whoosh pickles the schema (field classes and analyzers included) into the index, so
the module paths ``search.schema`` and ``search.analysis`` are part of the on-disk
format. Bump :data:`SCHEMA_VERSION` whenever a field, its analysis or its meaning
changes: an index written under another version is refused with a clear message.
"""

from __future__ import annotations

from whoosh.fields import ID, KEYWORD, NUMERIC, STORED, TEXT, Schema

from .analysis import JiebaTokenizer, term_positions

__all__ = ["SCHEMA_VERSION", "JiebaText", "make_schema", "TITLE_BOOST"]

SCHEMA_VERSION = 4  # 4: a character index beside each segment (search.chars)
TITLE_BOOST = 2.5


_SINGLE: dict[int, bytes] = {}  # encoded one-position lists, by position


class JiebaText(TEXT):
    """A TEXT field analysed by our jieba tokenizer, with a fast ``index()``.

    The default ``TEXT.index`` builds a Whoosh ``Token`` per word; here the postings
    (term → positions) come straight from :func:`search.analysis.analyze`, which is the
    same tokenizer the field's ``analyzer`` runs, so query-time Whoosh code paths (e.g.
    highlighting) still agree with what was indexed.
    """

    def __init__(self, stored: bool = False, field_boost: float = 1.0):
        super().__init__(analyzer=JiebaTokenizer("search"), phrase=True, stored=stored,
                         field_boost=field_boost)

    def index(self, value, **kwargs):
        """Return ``(term bytes, freq, weight, encoded positions)`` for each distinct term."""
        from .normalize import fold

        poses = term_positions(fold(value).text)
        fmt = self.format
        fb = fmt.field_boost
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

