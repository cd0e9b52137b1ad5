"""xunwen (寻闻): full-text search over Chinese regional news.

Public API::

    from search import SearchEngine, SearchRequest
    page = SearchEngine("index").search(SearchRequest(q="监督"))
"""

from .engine import SearchEngine
from .errors import BadQuery, ExtractError, IndexBusy, IndexIncompatible, IndexMissing, NotFound, XunwenError
from .indexer import reindex
from .models import Article, FacetValue, Hit, SearchPage, SearchRequest
from .params import RESULT_WINDOW, RankParams

__all__ = [
    "SearchEngine", "SearchRequest", "SearchPage", "Hit", "FacetValue", "Article", "RankParams", "RESULT_WINDOW",
    "reindex",
    "XunwenError", "BadQuery", "ExtractError", "IndexBusy", "IndexIncompatible", "IndexMissing", "NotFound",
]
__version__ = "0.1.0"
