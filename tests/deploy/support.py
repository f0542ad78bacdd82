"""Reading the container files the way Docker and Compose do (no Docker engine needed)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


class InterpolationError(ValueError):
    """A required variable (``${VAR:?message}``) is unset."""


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution: ``$$``, ``$VAR``, ``${VAR}``, ``${VAR:-default}``,
    ``${VAR-default}``, ``${VAR:?error}``, ``${VAR?error}``, ``${VAR:+alt}``; defaults nest."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end, depth = i + 2, 1
            while depth:
                if end >= len(text):
                    raise InterpolationError(f"unclosed ${{ in {text!r}")
                depth += {"{": 1, "}": -1}.get(text[end], 0)
                end += 1
            out.append(_expression(text[i + 2 : end - 1], env))
            i = end
        elif m := _NAME.match(text, i + 1):
            out.append(env.get(m.group(), ""))
            i = m.end()
        else:
            out.append("$")
            i += 1
    return "".join(out)


def _expression(expr: str, env: Mapping[str, str]) -> str:
    m = _NAME.match(expr)
    if m is None:
        raise InterpolationError(f"invalid variable expression ${{{expr}}}")
    name, rest = m.group(), expr[m.end() :]
    value = env.get(name)
    if not rest:
        return value or ""
    for op in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(op):
            arg = rest[len(op) :]
            unset = value is None or (op.startswith(":") and value == "")
            if op in (":-", "-"):
                return interpolate(arg, env) if unset else str(value)
            if op in (":?", "?"):
                if unset:
                    raise InterpolationError(f"{name}: {interpolate(arg, env)}")
                return str(value)
            return "" if unset else interpolate(arg, env)
    raise InterpolationError(f"invalid variable expression ${{{expr}}}")


def interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [interpolate_tree(v, env) for v in node]
    if isinstance(node, dict):
        return {k: interpolate_tree(v, env) for k, v in node.items()}
    return node


def load_compose(env: Mapping[str, str] | None) -> dict[str, Any]:
    """compose.yaml as YAML (anchors merged); interpolated with ``env`` unless it is None."""
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data if env is None else interpolate_tree(data, env)


def env_example() -> dict[str, str]:
    """The variables .env.example sets (what `cp .env.example .env` gives compose)."""
    from dotenv import dotenv_values

    return {k: v or "" for k, v in dotenv_values(ROOT / ".env.example").items()}


def variables_referenced(text: str) -> set[str]:
    """Every variable name a compose file interpolates."""
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text.replace("$$", "")))


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` (relative, with /) out of the build context.

    Docker's rules: the last matching pattern wins, ``!`` re-includes, ``**`` matches any
    number of folders, and a pattern matching a parent folder matches everything below it.
    """
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        pattern = pattern.strip().strip("/")
        regex = _glob_regex(pattern)
        if any(regex.fullmatch(c) for c in candidates):
            excluded = not negate
    return excluded


def _glob_regex(pattern: str) -> re.Pattern[str]:
    parts = pattern.split("/")
    out = ""
    need_sep = False
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            # Any number of folders (also none): "**/x" matches "x" and "a/b/x".
            out += ("/" if need_sep else "") + (".*" if last else "(?:.*/)?")
            need_sep = False
            continue
        out += ("/" if need_sep else "") + fnmatch.translate(part).removeprefix(
            "(?s:"
        ).removesuffix(")\\Z")
        need_sep = True
    return re.compile(out)


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
