"""The import rules of docs/ARCHITECTURE.md, read from the source (ast), imports inside functions too."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# web/ calls the search package's public API and these modules only; the stages (indexing,
# storage, scoring, tokenizing) stay behind the engine.
WEB_MAY_IMPORT = {
    "search", "search.errors", "search.models", "search.params", "search.budget", "search.suggest",
    "search.aliases", "search.region", "search.pinyin",
    "search.engine",  # MAX_SIZE and MAX_WINDOW for the API's checks
}
# Known edges against the one-way graph, each imported lazily inside one function: listed so
# that no new one appears.
SEARCH_EXCEPTIONS = {
    ("search.cli", "web.serve"),  # `xunwen serve` starts the web layer
    # The snapshot's own builders of the cached objects (one definition of each), which the
    # writer runs to write a commit's sidecar; the snapshot reads the sidecar back.
    ("search.sidecar", "search.snapshot"),
}
# Only the storage package imports Whoosh, besides the two modules whose paths Whoosh pickles
# into every index (the schema and its analyzer); a module outside that must still touch
# Whoosh is listed here with the reason.
WHOOSH_MAY_BE_IMPORTED_BY = {"search.analysis", "search.schema"}
WHOOSH_EXCEPTIONS: set[tuple[str, str]] = set()
# Lower stages never import the stages above them.
FORBIDDEN_INSIDE_SEARCH = {
    "search.engine": {"search.indexer"},
    # The engine's parts: the facade imports them, none of them imports the facade.
    "search.snapshot": {"search.engine", "search.indexer", "search.filters"},
    "search.filters": {"search.engine", "search.indexer"},
    "search.hits": {"search.engine", "search.indexer", "search.snapshot", "search.ranking", "search.query",
                    "search.filters"},
    "search.sidecar": {"search.engine", "search.snapshot"},
    "search.indexer": {"search.ranking", "search.query", "search.highlight", "search.suggest"},
    "search.ranking": {"search.engine", "search.indexer", "search.query"},
    "search.query": {"search.engine", "search.indexer"},
    "search.normalize": {"search.analysis", "search.engine", "search.indexer"},
    "search.params": {"search"},  # a leaf: everything may import it
    "search.bigrams": {"search"},
}
# The storage package imports nothing above it (any module of search.store).
STORE_MAY_NOT_IMPORT = {"search.engine", "search.indexer", "search.ranking", "search.query", "search.sidecar",
                        "search.highlight", "search.suggest", "search.cli", "search.extract", "search.ingest"}


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Return every module ``path`` imports (relative imports resolved, ``from x import y`` as x)."""
    mod = module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
                out.add(name)
                if node.module is None:  # from . import x
                    out.update(f"{name}.{a.name}" for a in node.names)
            else:
                out.add(node.module or "")
    return out


def sources(top: str) -> list[Path]:
    return sorted((REPO / top).rglob("*.py"))


def test_the_parser_sees_relative_and_nested_imports() -> None:
    """The check itself can fail: it finds the lazy edges it allows."""
    assert "web.serve" in imports(REPO / "search" / "cli.py")
    assert "search.snapshot" in imports(REPO / "search" / "sidecar.py")
    assert "search.errors" in imports(REPO / "search" / "__init__.py")


@pytest.mark.parametrize("path", sources("search"), ids=lambda p: p.name)
def test_search_never_imports_the_web_layer(path: Path) -> None:
    mod = module_name(path)
    for name in imports(path):
        top = name.split(".")[0]
        if top in ("flask", "werkzeug", "waitress", "web"):
            assert (mod, name) in SEARCH_EXCEPTIONS, f"{mod} imports {name}"


@pytest.mark.parametrize("path", sources("search"), ids=lambda p: p.name)
def test_lower_stages_do_not_import_higher_ones(path: Path) -> None:
    mod = module_name(path)
    for name in imports(path):
        if (mod, name) in SEARCH_EXCEPTIONS:
            continue
        for banned in FORBIDDEN_INSIDE_SEARCH.get(mod, ()):
            assert not (name == banned or name.startswith(banned + ".")), f"{mod} imports {name}"


def in_store(mod: str) -> bool:
    return mod == "search.store" or mod.startswith("search.store.")


@pytest.mark.parametrize("path", sources("search"), ids=lambda p: p.name)
def test_only_the_store_imports_whoosh(path: Path) -> None:
    mod = module_name(path)
    for name in imports(path):
        if name == "whoosh" or name.startswith("whoosh."):
            assert in_store(mod) or mod in WHOOSH_MAY_BE_IMPORTED_BY or (mod, name) in WHOOSH_EXCEPTIONS, (
                f"{mod} imports {name}: read and write Whoosh through search.store")


@pytest.mark.parametrize("path", sources("search/store"), ids=lambda p: p.name)
def test_the_store_imports_nothing_above_it(path: Path) -> None:
    mod = module_name(path)
    for name in imports(path):
        for banned in STORE_MAY_NOT_IMPORT:
            assert not (name == banned or name.startswith(banned + ".")), f"{mod} imports {name}"


def test_importing_search_leaves_whoosh_unpatched() -> None:
    """The write-path fixes (search.store.compat.install) come with a writer, not with ``import search``."""
    code = ("import sys\nimport search\nfrom search.store import compat\nfrom whoosh.codec import whoosh3\n"
            "assert search.__file__.startswith(sys.argv[1]), search.__file__\n"
            "assert not compat.installed() and not hasattr(whoosh3.W3TermInfo, 'set_inline')\n"
            "compat.install()\nassert compat.installed() and hasattr(whoosh3.W3TermInfo, 'set_inline')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code, str(REPO)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_another_whoosh_release_is_refused_with_a_clear_error() -> None:
    from search.store.compat import WHOOSH_VERSION, WhooshVersionError, check_version

    check_version()  # the installed one
    with pytest.raises(WhooshVersionError, match=f"needs Whoosh {WHOOSH_VERSION}.*2.7.5 is installed"):
        check_version("2.7.5")


@pytest.mark.parametrize("path", sources("search") + sources("web"), ids=lambda p: p.name)
def test_input_is_read_through_the_ingest_package(path: Path) -> None:
    """search/extract.py re-exports a few names for the benchmark scripts; code imports search.ingest."""
    mod = module_name(path)
    for name in imports(path):
        assert name != "search.extract", f"{mod} imports search.extract: import search.ingest"


@pytest.mark.parametrize("path", sources("web"), ids=lambda p: p.name)
def test_web_uses_the_public_search_api_only(path: Path) -> None:
    mod = module_name(path)
    for name in imports(path):
        if name == "search" or name.startswith("search."):
            assert name in WEB_MAY_IMPORT, f"{mod} imports {name}: use the search package's API"
