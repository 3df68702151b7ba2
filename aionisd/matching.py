"""How a task in words meets a playbook: the words that count, a small vocabulary bridge
(an agent says "virtual environment", the recording says `venv`), and which concepts of the task
a playbook covers. Pure; shared by the FTS query and the ranking's `why`."""

from __future__ import annotations

import re

STOPWORDS = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "for", "from", "how", "i", "in",
        "into", "is", "it", "me", "my", "of", "on", "or", "our", "please", "that", "the", "then",
        "this", "to", "up", "we", "with", "you", "your",
    }
)  # fmt: skip

# Each group is one concept; any of its words in a playbook covers it.
_GROUPS: tuple[tuple[str, ...], ...] = (
    ("venv", "virtualenv", "virtual", "environment", "env"),
    ("package", "project", "module", "library", "crate"),
    ("create", "setup", "set", "init", "bootstrap", "new", "scaffold", "initialise", "initialize"),
    ("install", "pip", "npm", "add", "dependencies", "deps"),
    ("test", "tests", "pytest", "unittest", "check"),
    ("python", "python3", "py"),
    ("release", "publish", "tag", "ship"),
    ("upgrade", "bump", "update"),
    ("repo", "repository", "git"),
    ("remote", "origin"),
    ("ci", "workflow", "workflows", "actions"),
    ("lint", "linter", "linting", "ruff", "eslint", "golangci"),
    ("format", "fmt", "formatter", "prettier"),
    ("docker", "container", "image"),
    ("database", "db", "postgres", "postgresql", "sqlite", "schema", "migrate", "migration"),
)
_CONCEPT: dict[str, tuple[str, ...]] = {w: g for g in _GROUPS for w in g}
_VERBS = {"create", "install", "test", "release", "upgrade", "lint", "format"}
_NOUNS = {g for g in _GROUPS if g[0] not in _VERBS}
_WORD = re.compile(r"[0-9a-z]+")


def words(text: str) -> list[str]:
    """Lowercase words that carry meaning (no stopwords, no single letters), in order."""
    return [w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in STOPWORDS]


def concepts(text: str) -> list[tuple[str, ...]]:
    """The task's concepts: a word with synonyms stands for its whole group."""
    return list(labelled(text))


def labelled(text: str) -> dict[tuple[str, ...], str]:
    """Each concept of the task with the task's own word for it (what `why` shows)."""
    out: dict[tuple[str, ...], str] = {}
    for w in words(text):
        out.setdefault(_CONCEPT.get(w, (w,)), w)
    return out


def fts_query(text: str) -> str:
    """An FTS5 query: any word of the task, plus the synonyms of words whose concept is a noun
    (venv, package, database...). Verbs' synonyms ("set", "new", "add") match much of any
    catalogue and would make every query score most of it; they count in `covered` instead."""
    terms: dict[str, None] = {}
    for w in words(text):
        group = _CONCEPT.get(w, (w,))
        terms.update(dict.fromkeys(group if group in _NOUNS else (w,)))
    return " OR ".join(f'"{w}"' for w in terms)


def covered(groups: list[tuple[str, ...]], text: str) -> list[tuple[str, ...]]:
    """The concepts whose words appear in `text` (a playbook's name, goal, commands, files)."""
    have = set(_WORD.findall(text.lower()))
    return [g for g in groups if have.intersection(g)]
