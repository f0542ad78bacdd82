"""Ends a generation that has started to repeat itself.

Small models (the bundled SmolLM2-135M above all) often fall into a loop: one sentence, or a
short paragraph, written again and again until ``max_tokens``. A ``LoopDetector`` watches the
text of one answer as it arrives and holds back whatever is a verbatim copy of earlier text of
the same answer (the copy may overlap itself, so ``ABABAB`` is a copy of ``AB`` from its second
``A`` on). Text that stops copying is released at once; a copy that grows into a repetition
ends the answer:

- **sentence**: the copy holds a whole sentence of at least ``min_sentence_words`` words
  that the answer already said as a sentence (code blocks excepted: code repeats lines);
- **span**: the copy is at least ``min_span_chars`` characters long (anywhere, code included).

The answer is then cut where the repetition starts — it keeps the first occurrence and none of
the repeats — and the copy is never shown. Only the last ``window`` characters are searched
for the original, which bounds the cost per piece of text.

``BaseLLMProvider`` applies a provider's ``loop_guard`` to its ``stream`` and ``chat`` (see
``liteagent.llm.base``); ``LITEAGENT_LOOP_GUARD`` (``auto``, ``on``, ``off``) chooses which
providers have one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["LoopDetector", "LoopGuard", "Repetition", "StopGeneration"]

_TERMINATOR = re.compile(r"[.!?](?=\s)|\n")
_WORD = re.compile(r"\w+")
_PIECE = re.compile(r"\s*\S+\s*")
_LIST_MARKER = re.compile(r"(?:^|\n)[ \t]*(?:\d+[.)]|[-*+])$")


class StopGeneration(BaseException):
    """Thrown into a provider's stream to ask it to stop generating.

    A stream that handles it stops its model and yields one last chunk with the usage so far;
    a stream that does not simply ends. It derives from ``BaseException`` so that a provider's
    ``except Exception`` does not turn it into a provider error.
    """


@dataclass(frozen=True)
class Repetition:
    """Where and how an answer started to repeat itself."""

    rule: str
    """``sentence`` or ``span``."""
    cut: int
    """Length of the text kept: the answer up to where the repetition starts."""
    repeated: str
    """The start of the repeated text (for logs)."""


@dataclass(frozen=True)
class LoopGuard:
    """Settings of the loop detection (see the module docs); ``detector()`` starts one answer.

    Args:
        min_sentence_words: Words a repeated sentence needs to end the answer.
        min_span_chars: Length of any repeated span that ends the answer.
        window: Characters searched back for the original of a copy.
    """

    min_sentence_words: int = 5
    min_span_chars: int = 200
    window: int = 4000

    def detector(self) -> LoopDetector:
        """A detector for one answer."""
        return LoopDetector(self)

    def check(self, text: str) -> Repetition | None:
        """The first repetition in a whole answer, as a stream of it would have met it."""
        detector = self.detector()
        for piece in _PIECE.findall(text):
            detector.feed(piece)
            if detector.repetition is not None:
                return detector.repetition
        return None


def _is_sentence_start(text: str, index: int) -> bool:
    i = index - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    if i < 0 or text[i] == "\n":
        return True
    return text[i] in ".!?:" and i < index - 1  # "2.5" is no sentence end


def _skip_space(text: str, index: int, end: int) -> int:
    while index < end and text[index].isspace():
        index += 1
    return index


class LoopDetector:
    """Follows one answer; ``feed`` returns the text that can be shown now."""

    def __init__(self, guard: LoopGuard) -> None:
        self.guard = guard
        self.text = ""
        self.released = 0
        """Length of the text handed out so far; ``text[released:]`` is held back."""
        self.repetition: Repetition | None = None

    def feed(self, piece: str) -> str:
        """Add the next piece of the answer; return what is safe to show now.

        Once ``repetition`` is set the answer is over: ``finish`` returns the rest to show.
        """
        shown: list[str] = []
        # Word by word, so that a large piece is judged like the same text streamed.
        for part in _PIECE.findall(piece) or [piece]:
            if self.repetition is not None:
                break
            shown.append(self._feed(part))
        return "".join(shown)

    def finish(self) -> str:
        """The text still to show when the answer ends (or was cut)."""
        end = self.repetition.cut if self.repetition is not None else len(self.text)
        out = self.text[self.released : max(end, self.released)]
        self.released = max(end, self.released)
        return out

    @property
    def kept(self) -> str:
        """The answer as it is shown: cut at the repetition, if any."""
        return self.text[: self.repetition.cut] if self.repetition is not None else self.text

    def _feed(self, part: str) -> str:
        self.text += part
        start = self.released
        if not self._copies(start, len(self.text)):
            # The held-back copy has ended: judge all of it before letting it go.
            self.repetition = self._repetition(start, self._copy_end(start))
            if self.repetition is not None:
                return ""
            start = self._copy_start()
        self.repetition = self._repetition(start, len(self.text))
        if self.repetition is not None:
            return ""
        out, self.released = self.text[self.released : start], start
        return out

    def _copies(self, start: int, end: int) -> bool:
        """Whether ``text[start:end]`` also occurs earlier (starting before ``start``)."""
        if end <= start:
            return True
        lo = max(0, start - self.guard.window)
        return self.text.find(self.text[start:end], lo, end - 1) >= 0

    def _copy_start(self) -> int:
        """Start of the longest suffix that copies earlier text (``len(text)`` if none).

        A suffix of a copy is a copy too, so it is found by bisection; it never moves back
        before the text already released.
        """
        lo, hi = self.released, len(self.text)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._copies(mid, len(self.text)):
                hi = mid
            else:
                lo = mid + 1
        return lo

    def _copy_end(self, start: int) -> int:
        """End of the longest copy starting at ``start`` (a prefix of a copy is a copy)."""
        lo, hi = start, len(self.text)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._copies(start, mid):
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _repetition(self, start: int, end: int) -> Repetition | None:
        """A repetition inside the copy ``text[start:end]``, if it is one."""
        if end <= start:
            return None
        sentence = self._repeated_sentence(start, end)
        if sentence is not None:
            return sentence
        if end - start >= self.guard.min_span_chars:
            text = self.text
            cut = start
            first_end = _TERMINATOR.search(text, start, end)
            if (
                not _is_sentence_start(text, _skip_space(text, start, end))
                and first_end is not None
                and first_end.end() - start < self.guard.min_span_chars
            ):
                # The copy began inside the sentence before it: keep that sentence whole.
                cut = first_end.end()
            return self._cut("span", cut)
        return None

    def _repeated_sentence(self, start: int, end: int) -> Repetition | None:
        """A whole sentence inside the copy: the answer said it before."""
        text = self.text
        begin: int | None = _skip_space(text, start, end)
        if begin is not None and not _is_sentence_start(text, begin):
            boundary = _TERMINATOR.search(text, begin, end)
            begin = boundary.end() if boundary is not None else None
        while begin is not None and begin < end:
            while begin < end and text[begin].isspace():
                begin += 1
            stop = _TERMINATOR.search(text, begin)
            if stop is None or stop.end() > end:
                return None
            sentence = text[begin : stop.end()]
            if (
                len(_WORD.findall(sentence)) >= self.guard.min_sentence_words
                and text.count("```", 0, begin) % 2 == 0  # not inside a code block
                and self._said_before(sentence, begin)
            ):
                return self._cut("sentence", begin)
            begin = stop.end()
        return None

    def _said_before(self, sentence: str, begin: int) -> bool:
        """Whether ``sentence`` occurs as a sentence (not inside one) before ``begin``."""
        text = self.text
        at = text.find(sentence, max(0, begin - self.guard.window), begin)
        while at >= 0:
            if _is_sentence_start(text, at):
                return True
            at = text.find(sentence, at + 1, begin)
        return False

    def _cut(self, rule: str, cut: int) -> Repetition:
        repeated = self.text[cut:].strip()[:80]
        kept = self.text[:cut].rstrip()
        marker = _LIST_MARKER.search(kept)
        if marker is not None:  # do not leave "5." or "-" alone on the last line
            kept = kept[: marker.start()].rstrip()
        return Repetition(rule, len(kept), repeated)
