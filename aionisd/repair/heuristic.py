"""Local repair rules: common, well-understood failures fixed without asking anyone.

Each rule reads the failing step and its output and returns a Proposal or None. Patches address
steps by JSON Pointer and start with `test` operations guarding what they replace, so a patch
made for one version of a playbook cannot silently apply to another. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bashlex

from aionisd.repair import Proposal, RepairRequest
from aionisd.shell import program_index

ALIASES: dict[str, str] = {
    "python": "python3",
    "pip": "python3 -m pip",
    "pip3": "python3 -m pip",
    "pytest": "python3 -m pytest",
    "virtualenv": "python3 -m venv",
    "docker-compose": "docker compose",
    "fd": "fdfind",
    "bat": "batcat",
    "nodejs": "node",
    "gmake": "make",
    "gsed": "sed",
    "gtar": "tar",
    "sha256sum": "shasum -a 256",
}
"""Missing program -> what usually provides it under another name (Debian, macOS, PEP 394)."""

MAX_ATTEMPTS = 5
_OUTPUT_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>"})


@dataclass(frozen=True, slots=True)
class Word:
    """A shell word: its unquoted text and where its source text sits in the command."""

    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Command:
    """One simple command: argv words (assignments left out) and output redirection targets."""

    words: tuple[Word, ...]
    outputs: tuple[Word, ...]
    start: int
    end: int

    def program(self) -> int | None:
        """Index in `words` of the program run, looking through `sudo`, `env` and the like."""
        return program_index(tuple(w.text for w in self.words))

    def args(self) -> tuple[Word, ...]:
        """The words after the program."""
        p = self.program()
        return () if p is None else self.words[p + 1 :]


def parse_commands(run: str) -> list[Command]:
    """Every simple command in a shell string, command substitutions included, in source order."""
    try:
        trees = bashlex.parse(run)
    except Exception:  # bashlex refuses some valid shell; a rough split is better than nothing
        return _rough_commands(run)
    found: list[Command] = []
    for tree in trees:
        _walk(tree, found)
    return sorted(found, key=lambda c: c.start)


def _walk(node: Any, found: list[Command]) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, found)
        return
    if not isinstance(node, bashlex.ast.node):
        return
    if node.kind == "command":
        words: list[Word] = []
        outputs: list[Word] = []
        for part in node.parts:
            if part.kind == "word":
                words.append(Word(part.word, part.pos[0], part.pos[1]))
            elif part.kind == "redirect" and part.type in _OUTPUT_REDIRECTS:
                target = part.output
                if isinstance(target, bashlex.ast.node) and target.kind == "word":
                    outputs.append(Word(target.word, target.pos[0], target.pos[1]))
        found.append(Command(tuple(words), tuple(outputs), node.pos[0], node.pos[1]))
    for value in vars(node).values():
        _walk(value, found)


_SEGMENT = re.compile(r"[^;&|()\n]+")
_TOKEN = re.compile(r"\S+")
_REDIRECT_PREFIX = re.compile(r"^(?:\d*>>?|&>>?|>\|)")


def _rough_commands(run: str) -> list[Command]:
    commands = []
    for seg in _SEGMENT.finditer(run):
        words: list[Word] = []
        outputs: list[Word] = []
        pending_output = False
        for tok in _TOKEN.finditer(seg.group()):
            start = seg.start() + tok.start()
            end = seg.start() + tok.end()
            text = tok.group()
            prefix = _REDIRECT_PREFIX.match(text)
            if prefix:
                rest = text[prefix.end() :]
                if rest:
                    outputs.append(Word(_unquote(rest), start + prefix.end(), end))
                else:
                    pending_output = True
            elif pending_output:
                outputs.append(Word(_unquote(text), start, end))
                pending_output = False
            elif not (not words and re.fullmatch(r"\w+=\S*", text)):
                words.append(Word(_unquote(text), start, end))
        if words or outputs:
            start = seg.start() + len(seg.group()) - len(seg.group().lstrip())
            commands.append(Command(tuple(words), tuple(outputs), start, seg.end()))
    return commands


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def splice(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Replace source ranges, last first so earlier offsets stay right."""
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def shell_path(path: str) -> str:
    """Quote a path for the shell, keeping `${NAME}` placeholders expandable."""
    if re.fullmatch(r"[\w@%+=:,./~-]+", path):
        return path
    if not re.search(r"[\"`\\]", path) and not re.search(r"\$(?!\{\w+\})", path):
        return f'"{path}"'
    return shlex.quote(path)


def same_path(written: str, seen: str) -> bool:
    """Whether a path as written in the playbook (maybe with `${NAME}`) names the path seen."""
    if written == seen:
        return True
    if "$" not in written and not written.startswith("~"):
        return seen.endswith("/" + written) and not written.startswith("/")
    pattern = ""
    for piece in re.split(r"(\$\{\w+\}|\$\w+|^~)", written):
        if re.fullmatch(r"\$\{\w+\}|\$\w+|~", piece):
            pattern += ".+?"
        else:
            pattern += re.escape(piece)
    return re.fullmatch(pattern, seen) is not None


def _guard(index: int, step: dict[str, Any]) -> list[dict[str, Any]]:
    if "id" in step:
        return [{"op": "test", "path": f"/steps/{index}/id", "value": step["id"]}]
    return []


def replace_field(index: int, step: dict[str, Any], name: str, new: Any) -> list[dict[str, Any]]:
    """A patch replacing one field of one step, guarded by the step id and the old value."""
    path = f"/steps/{index}/{name}"
    ops = _guard(index, step)
    if name in step:
        ops.append({"op": "test", "path": path, "value": step[name]})
        ops.append({"op": "replace", "path": path, "value": new})
    else:
        ops.append({"op": "add", "path": path, "value": new})
    return ops


def _failing(req: RepairRequest) -> tuple[dict[str, Any], str] | None:
    steps = req.doc.get("steps")
    if not isinstance(steps, list) or not 0 <= req.step_index < len(steps):
        return None
    step = steps[req.step_index]
    if not isinstance(step, dict):
        return None
    return step, f"{req.failure.stderr}\n{req.failure.stdout}"


def _command_step(req: RepairRequest) -> tuple[dict[str, Any], str, str] | None:
    found = _failing(req)
    if found is None:
        return None
    step, output = found
    run = step.get("run")
    if step.get("kind", "command") != "command" or not isinstance(run, str):
        return None
    return step, run, output


def _rewrite_run(req: RepairRequest, step: dict[str, Any], new_run: str, rationale: str) -> Proposal | None:
    if new_run == step["run"]:
        return None
    return Proposal(
        source="heuristic",
        patch=replace_field(req.step_index, step, "run", new_run),
        rationale=rationale,
    )


# --- missing program -----------------------------------------------------------------------

_NOT_FOUND = (
    re.compile(r"([\w.+-]+): command not found"),
    re.compile(r"command not found: ([\w.+-]+)"),
    re.compile(r"^\S*sh: \d+: ([\w.+-]+): not found", re.M),
    re.compile(r"env: [\u2018'\"]?([\w.+-]+)[\u2019'\"]?: No such file or directory"),
)


def missing_program(req: RepairRequest) -> Proposal | None:
    """`python: command not found` (exit 127): call the program by the name it has here."""
    found = _command_step(req)
    if found is None:
        return None
    step, run, output = found
    commands = parse_commands(run)
    if "'compose' is not a docker command" in output:
        edits = []
        for cmd in commands:
            p = cmd.program()
            if p is None or [w.text for w in cmd.words[p : p + 2]] != ["docker", "compose"]:
                continue
            edits.append((cmd.words[p].start, cmd.words[p + 1].end, "docker-compose"))
        return _rewrite_run(
            req,
            step,
            splice(run, edits),
            "this docker has no compose plugin; the standalone `docker-compose` provides it",
        )
    names = {m.group(1) for rx in _NOT_FOUND for m in rx.finditer(output)}
    programs = [(cmd, p) for cmd in commands if (p := cmd.program()) is not None]
    if not names and req.failure.exit_code == 127:
        guessed = {cmd.words[p].text for cmd, p in programs} & ALIASES.keys()
        if len(guessed) == 1:
            names = guessed
    names &= ALIASES.keys()
    edits = [
        (cmd.words[p].start, cmd.words[p].end, ALIASES[cmd.words[p].text])
        for cmd, p in programs
        if cmd.words[p].text in names
    ]
    if not edits:
        return None
    renamed = ", ".join(f"`{n}` -> `{ALIASES[n]}`" for n in sorted(names))
    proposal = _rewrite_run(
        req, step, splice(run, edits), f"program not found; call it by its usual name: {renamed}"
    )
    if proposal is None:
        return None
    return dataclasses.replace(proposal, patch=proposal.patch + _rename_required(req.doc, names))


def _rename_required(doc: dict[str, Any], names: set[str]) -> list[dict[str, Any]]:
    """Make `command_available` preconditions ask for the program the step now calls."""
    ops: list[dict[str, Any]] = []
    for j, pre in enumerate(doc.get("preconditions") or []):
        if not isinstance(pre, dict) or pre.get("type") != "command_available":
            continue
        name = pre.get("name")
        if name in names:
            path = f"/preconditions/{j}/name"
            ops.append({"op": "test", "path": path, "value": name})
            ops.append({"op": "replace", "path": path, "value": ALIASES[name].split()[0]})
    return ops


# --- missing parent directory --------------------------------------------------------------

_QUOTED = r"[\u2018'\"`]?(.+?)[\u2019'\"]?"
_WRITE_FAILED = tuple(
    re.compile(p, re.M)
    for p in (
        rf"cannot create (?:regular file|symbolic link|fifo|special file) {_QUOTED}: "
        r"No such file or directory",
        rf"cannot touch {_QUOTED}: No such file or directory",
        rf"failed to create (?:symbolic |hard )?link {_QUOTED}(?: => .*?)?: "
        r"No such file or directory",
        rf"cannot move [\u2018'\"].+?[\u2019'\"] to {_QUOTED}: No such file or directory",
        r"^tee: (.+?): No such file or directory",
        r"Failed to open the file (.+?): No such file or directory",
        rf"Cannot write to {_QUOTED} \(No such file or directory\)",
        r"cannot create (.+?): Directory nonexistent",
    )
)
_OPEN_FAILED = (
    re.compile(r"^(?:\S+: )?(?:line \d+: )?(.+?): No such file or directory$", re.M),
    re.compile(r"no such file or directory: (.+?)$", re.M),
)
_MKDIR_NO_PARENT = re.compile(r"mkdir: cannot create directory .*: No such file or directory")


def missing_parent_dir(req: RepairRequest) -> Proposal | None:
    """Writing to a path whose directory does not exist: create it in a step just before."""
    found = _failing(req)
    if found is None:
        return None
    step, output = found
    if not re.search(r"No such file or directory|Directory nonexistent", output, re.I):
        return None
    path = step.get("path")
    if step.get("kind") == "file_write" and isinstance(path, str):
        return _insert_mkdir(req, step, posixpath.dirname(path))
    command = _command_step(req)
    if command is None:
        return None
    run = command[1]
    commands = parse_commands(run)
    if _MKDIR_NO_PARENT.search(output):
        return _rewrite_run(
            req,
            step,
            add_flag(run, commands, "mkdir", "-p"),
            "mkdir failed on a missing parent directory; `mkdir -p` creates the parents",
        )
    anywhere = [w for cmd in commands for w in (*cmd.args(), *cmd.outputs)]
    redirected = [w for cmd in commands for w in cmd.outputs]
    for patterns, words in ((_WRITE_FAILED, anywhere), (_OPEN_FAILED, redirected)):
        for seen in (m.group(1) for rx in patterns for m in rx.finditer(output)):
            for word in words:
                if same_path(word.text, seen):
                    return _insert_mkdir(req, step, posixpath.dirname(word.text))
    return None


def _insert_mkdir(req: RepairRequest, step: dict[str, Any], directory: str) -> Proposal | None:
    if directory in ("", ".", "/"):
        return None
    new_step: dict[str, Any] = {
        "id": new_step_id(req.doc),
        "kind": "command",
        "run": f"mkdir -p {shell_path(directory)}",
        "shell": (step.get("shell") if step.get("kind") == "command" else None) or "bash -c",
        "cwd": step.get("cwd") or "${workdir}",
        "env": step.get("env") if isinstance(step.get("env"), dict) else {},
        "timeout_s": 60,
        "expect": {"exit_code": 0},
        "retry": {"attempts": 1, "backoff_s": 0},
        "risk": "low",
        "note": f"added by repair: create {directory} before step {step.get('id', '?')}",
        "optional": False,
    }
    return Proposal(
        source="heuristic",
        patch=[
            *_guard(req.step_index, step),
            {"op": "add", "path": f"/steps/{req.step_index}", "value": new_step},
        ],
        rationale=f"the directory {directory} does not exist; create it before writing into it",
    )


def new_step_id(doc: dict[str, Any]) -> str:
    """An unused step id of the schema's form `s<N>`: one past the highest."""
    numbers = [
        int(m.group(1))
        for s in doc.get("steps") or []
        if isinstance(s, dict) and (m := re.fullmatch(r"s(\d+)", str(s.get("id"))))
    ]
    return f"s{max(numbers, default=0) + 1}"


def add_flag(run: str, commands: list[Command], program: str, flag: str) -> str:
    """Add `flag` to every `program` call that lacks it (`-p` also counts inside `-pv`)."""
    letter = flag.lstrip("-")
    edits = []
    for cmd in commands:
        p = cmd.program()
        if p is None or cmd.words[p].text != program:
            continue
        has = any(
            w.text.startswith("-") and not w.text.startswith("--") and letter in w.text[1:]
            for w in cmd.args()
        )
        if not has:
            edits.append((cmd.words[p].end, cmd.words[p].end, f" {flag}"))
    return splice(run, edits)


# --- already exists ------------------------------------------------------------------------

_REMOTE_EXISTS = re.compile(r"remote (\S+) already exists")
_CLONE_EXISTS = re.compile(r"destination path '(.+?)' already exists")


def already_exists(req: RepairRequest) -> Proposal | None:
    """Creating something that is already there: make the step idempotent instead."""
    found = _command_step(req)
    if found is None:
        return None
    step, run, output = found
    commands = parse_commands(run)
    if re.search(r"mkdir: cannot create directory .*: File exists", output):
        return _rewrite_run(
            req,
            step,
            add_flag(run, commands, "mkdir", "-p"),
            "the directory already exists; `mkdir -p` succeeds when it does",
        )
    if re.search(r"ln: failed to create (?:symbolic |hard )?link .*: File exists", output):
        return _rewrite_run(
            req, step, _force_links(run, commands), "the link already exists; `ln -f` replaces it"
        )
    if _REMOTE_EXISTS.search(output):
        return _rewrite_run(
            req,
            step,
            _idempotent_remote(run, commands),
            "the remote already exists; set its URL when adding it fails",
        )
    clone = _CLONE_EXISTS.search(output)
    if clone:
        return _rewrite_run(
            req,
            step,
            _skip_existing_clone(run, commands, clone.group(1)),
            "the repository is already cloned; clone only when it is not",
        )
    return None


def _git_sub(cmd: Command, *sub: str) -> int | None:
    """Index in `cmd.words` after `git <sub...>`, or None when the command is something else."""
    p = cmd.program()
    if p is None or cmd.words[p].text != "git":
        return None
    texts = [w.text for w in cmd.words]
    for i in range(p + 1, len(texts) - len(sub) + 1):
        if tuple(texts[i : i + len(sub)]) == sub:
            return i + len(sub)
        if not texts[i].startswith("-"):
            return None
    return None


def _group(run: str, cmd: Command, text: str) -> tuple[int, int, str]:
    """Replace a command by `text`, braced when other commands share the line."""
    whole = run[: cmd.start].strip() == "" and run[cmd.end :].strip() == ""
    return (cmd.start, cmd.end, text if whole else f"{{ {text}; }}")


def _idempotent_remote(run: str, commands: list[Command]) -> str:
    edits = []
    for cmd in commands:
        after = _git_sub(cmd, "remote", "add")
        if after is None:
            continue
        positional = [w for w in cmd.words[after:] if not w.text.startswith("-")]
        if len(positional) != 2 or "git remote set-url" in run:
            continue
        name, url = (run[w.start : w.end] for w in positional)
        original = run[cmd.start : cmd.end]
        edits.append(_group(run, cmd, f"{original} 2>/dev/null || git remote set-url {name} {url}"))
    return splice(run, edits)


def _skip_existing_clone(run: str, commands: list[Command], seen: str) -> str:
    edits = []
    for cmd in commands:
        after = _git_sub(cmd, "clone")
        if after is None:
            continue
        target = next((w for w in cmd.words[after:] if same_path(w.text, seen)), None)
        where = run[target.start : target.end] if target else shell_path(seen)
        quoted = where.endswith(("'", '"'))
        guard = f"{where[:-1]}/.git{where[-1]}" if quoted else f"{where}/.git"
        test = f"[ -d {guard} ]"
        if test not in run:
            edits.append(_group(run, cmd, f"{test} || {run[cmd.start : cmd.end]}"))
    return splice(run, edits)


def _force_links(run: str, commands: list[Command]) -> str:
    edits = []
    for cmd in commands:
        p = cmd.program()
        if p is None or cmd.words[p].text != "ln":
            continue
        opts = [w.text for w in cmd.args() if w.text.startswith("-")]
        if any(o == "--force" or (not o.startswith("--") and "f" in o) for o in opts):
            continue
        symbolic = any(o == "--symbolic" or (not o.startswith("--") and "s" in o) for o in opts)
        edits.append((cmd.words[p].end, cmd.words[p].end, " -fn" if symbolic else " -f"))
    return splice(run, edits)


# --- transient network errors --------------------------------------------------------------

_TRANSIENT = re.compile(
    r"timed out|timeout was reached|could not resolve host|temporary failure in name resolution"
    r"|temporary failure resolving|name or service not known|connection reset"
    r"|network is unreachable|remote end hung up unexpectedly|early eof"
    r"|\bE(?:CONNRESET|TIMEDOUT|AI_AGAIN)\b|tls handshake timeout"
    r"|\b50[234]\b|service unavailable|bad gateway|gateway time-?out|too many requests",
    re.I,
)


def transient_network(req: RepairRequest) -> Proposal | None:
    """A network hiccup (timeout, DNS, reset, 502/503/504): retry the step more, with backoff."""
    found = _command_step(req)
    if found is None:
        return None
    step, _, output = found
    hit = _TRANSIENT.search(output)
    if hit is None:
        return None
    old = step.get("retry")
    retry = old if isinstance(old, dict) else {}
    attempts = retry.get("attempts", 1)
    backoff = retry.get("backoff_s", 0)
    if not isinstance(attempts, int) or not isinstance(backoff, int | float):
        return None
    if attempts >= MAX_ATTEMPTS:
        return None
    more = 3 if attempts < 3 else MAX_ATTEMPTS
    new = {**retry, "attempts": more, "backoff_s": max(2, backoff * 2)}
    return Proposal(
        source="heuristic",
        patch=replace_field(req.step_index, step, "retry", new),
        rationale=f"transient network error ({hit.group(0)!r}); retry up to "
        f"{new['attempts']} times, {new['backoff_s']}s apart",
    )


RULES: tuple[Callable[[RepairRequest], Proposal | None], ...] = (
    missing_program,
    missing_parent_dir,
    already_exists,
    transient_network,
)


def propose(req: RepairRequest) -> Proposal | None:
    """The first rule that knows this failure."""
    for rule in RULES:
        proposal = rule(req)
        if proposal is not None:
            return proposal
    return None
