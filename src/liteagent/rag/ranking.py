"""Top-k selection over a score array without sorting the whole array.

Both in-memory indexes (BM25 and vectors) score every row with one vectorised operation and
then need the ``k`` best rows, ties broken by row order (rows are kept in an order that makes
this the document id order, or the caller passes the ids to break ties with). ``np.argpartition``
finds the k-th best score in linear time; only the rows at or above it are sorted. A filter is
applied to the best candidates first, widening the window until enough rows pass, so a filter
never copies the matrix nor visits every row when the best ones match.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["top_k"]

Scores = npt.NDArray[np.floating]


def _best(
    scores: Scores, rows: npt.NDArray[np.intp], k: int, tiebreak: Sequence[str] | None
) -> list[int]:
    """The ``k`` best of ``rows`` by score, ties by ``tiebreak`` (else by row number)."""
    values = scores[rows]
    if len(rows) > k:
        kth = np.partition(values, len(values) - k)[len(values) - k]
        keep = values >= kth  # every row tied with the k-th best stays a candidate
        rows, values = rows[keep], values[keep]
    if tiebreak is None:
        order = np.lexsort((rows, -values))
        return [int(i) for i in rows[order][:k]]
    pairs = sorted(
        zip((-values).tolist(), rows.tolist(), strict=True), key=lambda p: (p[0], tiebreak[p[1]])
    )
    return [int(r) for _, r in pairs[:k]]


def top_k(
    scores: Scores,
    k: int,
    *,
    keep: Callable[[int], bool] | None = None,
    positive_only: bool = False,
    tiebreak: Sequence[str] | None = None,
) -> list[int]:
    """Row numbers of the ``k`` best scores, best first.

    Args:
        scores: One score per row (higher is better).
        k: How many rows to return (fewer when fewer qualify).
        keep: Predicate on a row number (a metadata filter); rows it rejects are skipped.
        positive_only: Only rows scoring above zero qualify (BM25: no query term matched).
        tiebreak: Keys that order rows of equal score (document ids); default: row number.
    """
    if k < 1 or scores.size == 0:
        return []
    rows: npt.NDArray[np.intp] = (
        np.flatnonzero(scores > 0) if positive_only else np.arange(scores.size, dtype=np.intp)
    )
    if keep is None:
        return _best(scores, rows, k, tiebreak)
    window = max(4 * k, 64)
    while True:
        ranked = _best(scores, rows, min(window, len(rows)), tiebreak)
        chosen = [r for r in ranked if keep(r)]
        if len(chosen) >= k or len(ranked) >= len(rows):
            return chosen[:k]
        window *= 4
