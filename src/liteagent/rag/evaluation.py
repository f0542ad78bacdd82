"""Retrieval evaluation: recall@k and nDCG@k on known-item queries.

``stdlib_corpus`` builds a labelled corpus at run time, offline, from text LiteAgent did not
write: the docstrings of the Python standard library. Each documented function, class or
method becomes a passage (its qualified name and its docstring *without* the summary line);
the summary line becomes the query whose one relevant passage is that docstring's body. The
selection is deterministic (hash order over qualified names).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import math
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from liteagent.rag.retriever import Retriever
from liteagent.rag.types import Document

__all__ = [
    "EvalQuery",
    "EvalResult",
    "evaluate",
    "format_table",
    "ndcg_at_k",
    "recall_at_k",
    "stdlib_corpus",
]

STDLIB_MODULES: tuple[str, ...] = (
    "argparse", "ast", "asyncio.base_events", "asyncio.events", "asyncio.locks", "asyncio.queues",
    "asyncio.streams", "asyncio.tasks", "base64", "bdb", "bisect", "calendar", "cmd", "codecs",
    "collections", "concurrent.futures._base", "configparser", "contextlib", "copy", "csv",
    "dataclasses", "difflib", "dis", "doctest", "email.message", "email.utils", "enum",
    "filecmp", "fnmatch", "fractions", "ftplib", "functools", "getpass", "gettext", "glob",
    "gzip", "heapq", "hmac", "html.parser", "http.client", "http.cookiejar", "http.cookies",
    "http.server", "imaplib", "inspect", "ipaddress", "json", "json.decoder", "json.encoder",
    "locale", "logging", "logging.handlers", "lzma", "mailbox", "mimetypes", "netrc", "ntpath",
    "numbers", "operator", "optparse", "os", "pathlib", "pdb", "pickle", "pickletools",
    "pkgutil", "platform", "plistlib", "poplib", "posixpath", "pprint", "pydoc", "queue",
    "quopri", "random", "reprlib", "sched", "secrets", "selectors", "shelve", "shlex", "shutil",
    "smtplib", "socket", "socketserver", "statistics", "string", "subprocess", "sysconfig",
    "tarfile", "tempfile", "textwrap", "threading", "timeit", "tokenize", "trace", "traceback",
    "typing", "unittest.case", "unittest.mock", "urllib.parse", "urllib.request", "uuid",
    "warnings", "wave", "weakref", "webbrowser", "xml.dom.minidom", "zipfile", "zipimport",
)  # fmt: skip

_WORD = re.compile(r"[A-Za-z]{2,}")


@dataclass(frozen=True)
class EvalQuery:
    """A query and the ids of its relevant documents."""

    text: str
    relevant: frozenset[str]


@dataclass
class EvalResult:
    """Mean metrics of one retriever over a query set."""

    name: str
    recall_at_5: float
    ndcg_at_10: float
    queries: int
    per_query_ranks: list[int | None] = field(default_factory=list)


def recall_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """Share of the relevant documents found in the top ``k``."""
    rel = set(relevant)
    if not rel:
        return 0.0
    return len(rel & set(ranked[:k])) / len(rel)


def ndcg_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """Normalised discounted cumulative gain with binary relevance."""
    rel = set(relevant)
    dcg = sum(1.0 / math.log2(i + 2) for i, doc in enumerate(ranked[:k]) if doc in rel)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(rel))))
    return dcg / ideal if ideal else 0.0


async def evaluate(name: str, retriever: Retriever, queries: Sequence[EvalQuery]) -> EvalResult:
    """Run every query (top 10) and average recall@5 and nDCG@10."""
    recall = ndcg = 0.0
    ranks: list[int | None] = []
    for q in queries:
        result = await retriever.retrieve(q.text, limit=10)
        ids = [hit.document.id for hit in result.documents]
        recall += recall_at_k(ids, q.relevant, 5)
        ndcg += ndcg_at_k(ids, q.relevant, 10)
        ranks.append(next((i + 1 for i, d in enumerate(ids) if d in q.relevant), None))
    n = max(1, len(queries))
    return EvalResult(name, recall / n, ndcg / n, len(queries), ranks)


def format_table(results: Sequence[EvalResult], title: str = "") -> str:
    """A Markdown table of the results."""
    lines = [title, ""] if title else []
    lines += ["| retriever | recall@5 | nDCG@10 | queries |", "|---|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r.name} | {r.recall_at_5:.3f} | {r.ndcg_at_10:.3f} | {r.queries} |")
    return "\n".join(lines)


def _summary_and_body(doc: str) -> tuple[str, str] | None:
    doc = inspect.cleandoc(doc)
    paragraphs = doc.split("\n\n", 1)
    first = " ".join(paragraphs[0].split())
    # The summary is the first sentence of the first paragraph.
    match = re.match(r"(.+?[.!?])(\s|$)", first)
    summary = match.group(1) if match else first
    rest = first[len(summary) :].strip()
    body = " ".join(p for p in (rest, paragraphs[1] if len(paragraphs) > 1 else "") if p).strip()
    if len(_WORD.findall(summary)) < 4 or len(body) < 150:
        return None
    return summary, body


def _members(module_name: str) -> Iterable[tuple[str, str]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and isinstance(obj.__doc__, str):
            yield f"{module_name}.{name}", obj.__doc__
        if inspect.isclass(obj):
            for attr, member in sorted(vars(obj).items()):
                if attr.startswith("_") or not inspect.isfunction(member):
                    continue
                if isinstance(member.__doc__, str):
                    yield f"{module_name}.{name}.{attr}", member.__doc__


def _order(key: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{key}".encode()).hexdigest()


def stdlib_corpus(
    max_passages: int = 600, max_queries: int = 300, *, max_chars: int = 1500
) -> tuple[list[Document], list[EvalQuery]]:
    """Passages and known-item queries from the standard library's docstrings.

    Args:
        max_passages: Passages in the corpus (each a different documented object).
        max_queries: Queries, drawn from the passages (the rest are distractors).
        max_chars: Passage bodies are cut to this length.

    Returns:
        ``(documents, queries)``; document ids are the objects' qualified names.
    """
    seen_summaries: set[str] = set()
    seen_bodies: set[str] = set()
    items: dict[str, tuple[str, str]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some modules warn when their attributes are read
        members = [m for name in STDLIB_MODULES for m in _members(name)]
    for qualname, doc in members:
        parsed = _summary_and_body(doc)
        if parsed is None:
            continue
        summary, body = parsed
        key_s, key_b = summary.lower(), body[:300]
        if key_s in seen_summaries or key_b in seen_bodies:
            continue
        seen_summaries.add(key_s)
        seen_bodies.add(key_b)
        items[qualname] = (summary, body[:max_chars])
    chosen = sorted(items, key=lambda k: _order(k, "passage"))[:max_passages]
    documents = [
        Document(
            id=q,
            content=f"{q}\n\n{items[q][1]}",
            metadata={"source": q.rsplit(".", 1)[0], "name": q},
        )
        for q in sorted(chosen)
    ]
    asked = sorted(chosen, key=lambda k: _order(k, "query"))[:max_queries]
    queries = [EvalQuery(items[q][0], frozenset({q})) for q in asked]
    return documents, queries
