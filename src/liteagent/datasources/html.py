"""HTML to readable text with BeautifulSoup (stdlib parser)."""

from __future__ import annotations

import re

__all__ = ["html_to_text"]

_DROP = ("script", "style", "noscript", "template", "svg", "nav", "footer", "header", "form")
_BLOCKS = ("p", "div", "section", "article", "li", "tr", "br", "h1", "h2", "h3", "h4", "h5", "h6",
           "pre", "blockquote", "table", "ul", "ol", "dd", "dt")  # fmt: skip


def html_to_text(html: str) -> tuple[str, str | None]:
    """The visible text of ``html`` (one block per paragraph) and its ``<title>``."""
    from bs4 import BeautifulSoup  # half a second to import: only when a page is read

    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(strip=True) if soup.title else None
    for tag in soup(list(_DROP)):
        tag.decompose()
    main = soup.find("main") or soup.find("article") or soup.body or soup
    for tag in main.find_all(list(_BLOCKS)):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    for level in range(1, 7):
        for heading in main.find_all(f"h{level}"):
            heading.insert_before("#" * level + " ")
    text = main.get_text()
    lines = [re.sub(r"[ \t\xa0]+", " ", line).strip() for line in text.splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip(), title or None
