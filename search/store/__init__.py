"""The Whoosh boundary: the only package (with ``search.analysis`` and ``search.schema``, whose
module paths are pickled into every index) that imports Whoosh.

``compat`` (the Whoosh version check, done here first, and the write-path fixes),
``generations`` (opening, generations, the CURRENT swap, debris), ``lock`` (the writer lock),
``writer`` and ``segwriter`` (the segment writers), ``merge`` (the tiered merge policy),
``readers`` (field lengths, postings, positions) and ``pinned`` (a commit's files mapped for
the readers of one snapshot). Nothing here imports the engine, the indexer or the ranking.
"""

from . import compat  # noqa: F401 - checks the Whoosh version before any module reads its internals
