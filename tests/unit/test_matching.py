"""The vocabulary bridge between a task in words and a recorded playbook."""

from __future__ import annotations

from aionisd.matching import concepts, covered, fts_query, words


def test_stopwords_and_single_letters_do_not_count() -> None:
    assert words("Please set up a Python venv for it") == ["set", "python", "venv"]


def test_synonyms_form_one_concept() -> None:
    groups = concepts("create a virtual environment")
    assert len(groups) == 2  # "virtual" and "environment" are one concept
    assert '"venv"' in fts_query("create a virtual environment")
    assert '"scaffold"' not in fts_query("create a virtual environment")  # verbs: coverage only


def test_coverage_counts_concepts_not_words() -> None:
    groups = concepts("create a python package with a virtual environment")
    text = "python project: python3 -m venv .venv && pip install -e ."
    assert len(covered(groups, text)) == len(groups) - 1  # all but "create"
    assert covered(groups, "cargo build") == []
