"""The shell front-end: command lines read once, and one table of what each tool does.

`parse` splits shell text into simple commands; `TOOLS` holds one record per program; the
engine in `shell.engine` classes commands and judges risk, idempotence and intent from both.
"""

from aionisd.shell.engine import (
    classify,
    classify_simple,
    classify_words,
    idempotence,
    intent_key,
    program_index,
    risk,
    unwrap,
    writes_file,
)
from aionisd.shell.parse import Parsed, Simple, parse, wordset
from aionisd.shell.record import CHANGE, CHECK, PROBE, Cls, Idem, PasswordArgs, Risk, Tool
from aionisd.shell.rules import CREATING_OUTPUT, XARGS_OPTIONS, base, classify_task, git_split, skip_options
from aionisd.shell.tools import BUILTINS, TOOLS, lookup

__all__ = [
    "BUILTINS",
    "CHANGE",
    "CHECK",
    "CREATING_OUTPUT",
    "PROBE",
    "TOOLS",
    "XARGS_OPTIONS",
    "Cls",
    "Idem",
    "Parsed",
    "PasswordArgs",
    "Risk",
    "Simple",
    "Tool",
    "base",
    "classify",
    "classify_simple",
    "classify_task",
    "classify_words",
    "git_split",
    "idempotence",
    "intent_key",
    "lookup",
    "parse",
    "program_index",
    "risk",
    "skip_options",
    "unwrap",
    "wordset",
    "writes_file",
]
