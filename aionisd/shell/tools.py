"""The tool table: everything aionis knows about one program, in one record.

A contributor teaching aionis a new tool adds one `Tool` to `TOOLS` (and an example to
tests/test_shell.py): its class (`change`/`check`/`probe`) or a small rule over its arguments,
its risk and idempotence, what it does to files and the repo, its wrapper options and where it
takes a password. Rules are pure functions of the arguments; a rule that runs another command
(`xargs CMD`, `sh -c TEXT`) returns a `Run` and the engine classes that.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from aionisd.shell.parse import _S, wordset

Cls = Literal["change", "check", "probe"]
Risk = Literal["low", "medium", "high"]
Idem = Literal["state", "content", "none"]

CHANGE: Cls = "change"
CHECK: Cls = "check"
PROBE: Cls = "probe"
_words = wordset


@dataclass(frozen=True, slots=True)
class Run:
    """Commands a tool runs in its stead (`xargs CMD`, `find -exec`, `sh -c TEXT`): the engine
    classes them, so rules stay pure functions of their arguments."""

    commands: tuple[tuple[str, ...], ...] = ()
    text: str | None = None


Verdict = Cls | Run
Rule = Callable[[Sequence[str]], Verdict]


@dataclass(frozen=True, slots=True)
class Wrapper:
    """A prefix that runs the rest of the line (`sudo`, `env A=b`, `timeout 5`): the options of
    its own that take a value, whether it takes assignments, and how many operands it eats."""

    options: frozenset[str] = frozenset()
    assigns: bool = False
    operands: int = 0
    stop_on: frozenset[str] = frozenset()  # `command -v` looks up, it does not run

    def strip(self, args: Sequence[str]) -> list[str] | None:
        """The wrapped command's words, or None when this use does not wrap one."""
        if args[:1] and args[0] in self.stop_on:
            return None
        i = 0
        while i < len(args) and (args[i].startswith("-") or (self.assigns and _ASSIGN.match(args[i]))):
            if args[i] == "--" and not self.assigns:
                i += 1
                break
            i += 2 if args[i] in self.options else 1
        return list(args[i + self.operands :])


@dataclass(frozen=True, slots=True)
class PasswordArgs:
    """Where one tool takes a password on its command line. An option given alone (it prompts)
    is left alone, and so are the same letters of other tools (`-p 8080`, `ls -a`)."""

    name: str  # the secret parameter it becomes
    glued: frozenset[str] = frozenset()  # `-pVALUE`
    spaced: frozenset[str] = frozenset()  # `-a VALUE`; a long one also `--password=VALUE`
    equals: frozenset[str] = frozenset()  # `--password=VALUE` only (`--password` alone prompts)
    after: str = ""  # the password follows this in the value (`user:PW`, `pass:PW`), else none
    last_arg_with: str = ""  # a short flag making the last argument the password (`htpasswd -b`)
    subcommand: str = ""  # only after this word (`docker login`)


def _pw(name: str, glued: str = "", spaced: str = "", equals: str = "", **kw: str) -> PasswordArgs:
    return PasswordArgs(name, wordset(glued), wordset(spaced), wordset(equals), **kw)


@dataclass(frozen=True, slots=True)
class Tool:
    """One program. `cls` is a fixed class, `rule` decides from the arguments; with neither the
    engine's default applies (help and dry runs read, anything else changes)."""

    names: tuple[str, ...]
    cls: Cls | None = None
    rule: Rule | None = None
    prefix: str = ""  # also any program whose name starts with this (`python3.12`, `mkfs.ext4`)
    risk: Risk | Callable[[Sequence[str]], Risk] = "low"  # of a change it makes
    idem: Idem | Callable[[Sequence[str]], Idem] = "none"  # of a change it makes
    intent: Callable[[Sequence[str]], str] | None = None  # what a run is about, when not `tool sub`
    wrapper: Wrapper | None = None  # runs the rest of the line (`sudo`, `nice -n 5`)
    known: bool | Callable[[Sequence[str]], bool] = False  # its file effects are enumerable
    interpreter: bool = False  # runs code it is fed (`curl ... | sh` is high risk)
    builtin: bool = False  # a shell builtin or keyword: never a missing program
    password: PasswordArgs | None = None


_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]]*\])?\+?=")
QUIET_TARGETS = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/fd/")
CREATING_OUTPUT = frozenset({"-o", "--output", "-O", "--output-document"})


def _run(words: Sequence[str]) -> Run:
    return Run((tuple(words),))


def base(word: str) -> str:
    """A program's name without its directory."""
    return posixpath.basename(word) if "/" in word else word


def _flags(args: Sequence[str]) -> set[str]:
    return {a.split("=", 1)[0] for a in args if a.startswith("-")}


def _positionals(args: Sequence[str], takes_value: frozenset[str] = frozenset()) -> list[str]:
    out: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "--":
            continue
        if a.startswith("-"):
            if a in takes_value:
                skip = True
            continue
        out.append(a)
    return out


def _short(args: Sequence[str], letter: str) -> bool:
    """A short option letter anywhere in a cluster like `-rf`."""
    return any(
        a.startswith("-") and not a.startswith("--") and letter in a[1:] and a[1:].isalpha() for a in args
    )


_PROBE_BINS = _words(
    """ls ll la dir vdir cat bat batcat pwd head tail wc grep egrep fgrep rg ag ack which whereis
    type echo printf tree stat file du df printenv date whoami uname ps pgrep jq less more basename
    dirname realpath readlink id groups hostname cut uniq tr diff colordiff cmp comm column nl od
    xxd hexdump strings md5sum md5 sha1sum sha224sum sha256sum sha384sum sha512sum shasum cksum
    b2sum base64 base32 true false test [ [[ : sleep lsof netstat ss free uptime locale tput
    nproc sw_vers lsb_release arch getconf seq expr bc rev tac paste join look cd pushd popd dirs
    export set unset alias unalias exit return read wait trap shift local declare typeset readonly
    let hash shopt ulimit umask history clear jobs mktemp top htop vmstat iostat w who last fd
    fdfind zcat gzcat bzcat xzcat zgrep zless man whatis apropos tldr cal numfmt nslookup dig host
    ping traceroute journalctl lscpu lsblk lsusb lspci dmesg whois mdfind mdls sw_vers getent
    xmllint tokei cloc scc wc pstree uptime env printenv nvidia-smi"""
)

# test runners and linters: a verdict (fix flags on linters turn them into changes)
_TEST_BINS = _words("""pytest py.test tox nox jest vitest mocha ava karma phpunit pest rspec ctest""")
_LINT_BINS = _words(
    """mypy dmypy pyright basedpyright pylint flake8 pyflakes pycodestyle pydocstyle bandit
    vulture shellcheck hadolint yamllint actionlint markdownlint markdownlint-cli2 tflint checkov
    staticcheck govulncheck errcheck revive gosec ineffassign svelte-check commitlint cspell
    codespell typos htmlhint jsonlint luacheck ktlint detekt swiftlint clang-tidy cppcheck semgrep
    gitleaks eslint stylelint rubocop standard xo oxlint tsc-files pre-commit lefthook"""
)
_FIX_FLAGS = _S(
    """--fix --fix-only -w --write --write-changes -a -A --autocorrect --autocorrect-all -F
        --format --apply --apply-unsafe -i --in-place"""
)

_CHECK_TASK_WORDS = _words(
    """test tests lint linter lints check checks vet typecheck types type-check verify ci audit
    validate spec specs e2e unit integration coverage cov tsc mypy clippy"""
)
_CHANGE_TASK_WORDS = _words(
    """fmt format fix install update upgrade setup bootstrap generate gen codegen build deploy
    release publish clean write apply migrate seed"""
)


def classify_task(name: str) -> Cls:
    """Class a task-runner target (`make test`, `mise run fmt`) by its name."""
    parts = set(re.split(r"[:\-_./ ]+", name.lower()))
    if parts & _CHANGE_TASK_WORDS:
        return CHANGE
    if parts & _CHECK_TASK_WORDS:
        return CHECK
    return CHANGE


def _tasks(names: Sequence[str]) -> Cls:
    if not names:
        return CHANGE
    return combine(classify_task(n) for n in names)


def combine(classes: Iterable[Cls]) -> Cls:
    """The class of several commands run together: the strongest of theirs."""
    seen = set(classes)
    if CHANGE in seen:
        return CHANGE
    if CHECK in seen:
        return CHECK
    return PROBE


def _generic(args: Sequence[str]) -> Cls | None:
    """Help, version and dry runs read, whatever the program."""
    if any(a == "--dry-run" or a.startswith("--dry-run=") for a in args):
        return PROBE
    if "--help" in args or (args and args[0] in ("-h", "help", "--version", "-V", "version")):
        return PROBE
    if len(args) == 1 and args[0] in ("-v", "--help", "--version"):
        return PROBE
    return None


def default_class(args: Sequence[str]) -> Cls:
    """A program the table knows no class for: help and dry runs read, anything else changes."""
    g = _generic(args)
    if g:
        return g
    if args and args[0] in ("status", "list", "ls", "show", "view", "info"):
        return PROBE
    return CHANGE


def _linter(args: Sequence[str]) -> Cls:
    return CHANGE if _flags(args) & _FIX_FLAGS else CHECK


def _sed(args: Sequence[str]) -> Cls:
    if any(a.startswith("--in-place") for a in args) or _short(args, "i"):
        return CHANGE
    if any(a.startswith("-i") and not a.startswith("--") for a in args):
        return CHANGE
    return PROBE


def _awk(args: Sequence[str]) -> Cls:
    if "inplace" in args or any(a.startswith("--inplace") for a in args):
        return CHANGE
    script = " ".join(a for a in args if not a.startswith("-"))
    if "system(" in script or re.search(r"print[f]?[^;}]*?(>|\|\s*\")", script):
        return CHANGE
    return PROBE


def _find(args: Sequence[str]) -> Verdict:
    if {"-delete", "-fprint", "-fprint0", "-fprintf", "-fls"} & set(args):
        return CHANGE
    runs: list[tuple[str, ...]] = []
    i = 0
    while i < len(args):
        if args[i] in ("-exec", "-execdir", "-ok", "-okdir"):
            j = i + 1
            while j < len(args) and args[j] not in (";", "+", "\\;"):
                j += 1
            runs.append(tuple(a for a in args[i + 1 : j] if a != "{}"))
            i = j
        i += 1
    return Run(tuple(runs))


XARGS_OPTIONS = frozenset({"-I", "-i", "-n", "-P", "-L", "-l", "-d", "-s", "-E", "-e", "-a"})


def _xargs(args: Sequence[str]) -> Verdict:
    rest = skip_options(args, XARGS_OPTIONS)
    return _run(rest)


def skip_options(args: Sequence[str], takes_value: frozenset[str]) -> list[str]:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] == "--":
            return list(args[i + 1 :])
        i += 2 if args[i] in takes_value else 1
    return list(args[i:])


def _tee(args: Sequence[str]) -> Cls:
    files = [a for a in args if not a.startswith("-")]
    return CHANGE if any(not f.startswith(QUIET_TARGETS) for f in files) else PROBE


def _sort(args: Sequence[str]) -> Cls:
    return CHANGE if "-o" in args or any(a.startswith("--output") for a in args) else PROBE


def _yq(args: Sequence[str]) -> Cls:
    return CHANGE if _short(args, "i") or "--inplace" in args else PROBE


def _shell(args: Sequence[str]) -> Verdict:
    for i, a in enumerate(args):
        if a.startswith("-") and not a.startswith("--") and "c" in a[1:]:
            return Run(text=args[i + 1]) if i + 1 < len(args) else PROBE
        if a == "-n":
            return PROBE
        if not a.startswith("-"):
            return CHANGE
    return _generic(args) or CHANGE


def _source(args: Sequence[str]) -> Cls:
    """Sourcing an env or activation file only changes this step's shell."""
    if not args:
        return PROBE
    b = base(args[0])
    if "activate" in b or b.startswith(".env") or b.endswith(("rc", ".env", "env.sh", "profile")):
        return PROBE
    return CHANGE


_PY_WRITES = re.compile(
    r"\bopen\s*\([^)]*['\"][rbt]*[wax+]|\.write|\bos\.(?:remove|unlink|rmdir|mkdir|makedirs|"
    r"rename|replace|system|chmod|chown|symlink|link|truncate|kill|popen|exec|spawn|putenv)|"
    r"shutil|subprocess|\.(?:write_text|write_bytes|touch|mkdir|unlink|rmdir|rename|symlink_to|"
    r"chmod)\(|urllib|requests|http\.client|socket|sqlite3|\bexec\s*\(|\beval\s*\(|__import__|"
    r"\.dump\s*\(|\.to_csv|\.save|\bpip\b|setuptools"
)


def _python(args: Sequence[str]) -> Verdict:
    g = _generic(args)
    if g:
        return g
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-c":
            code = args[i + 1] if i + 1 < len(args) else ""
            return CHANGE if _PY_WRITES.search(code) else PROBE
        if a == "-m":
            return _python_module(args[i + 1] if i + 1 < len(args) else "", args[i + 2 :])
        if a.startswith("-") and a != "-":
            i += 1
            continue
        return CHANGE
    return CHANGE


def _python_module(mod: str, rest: Sequence[str]) -> Verdict:
    if mod in ("pytest", "unittest", "doctest", "tox", "nox", "py_compile", "compileall"):
        return CHECK
    if mod in _LINT_BINS:
        return _linter(rest)
    if mod in ("json.tool", "site", "sysconfig", "platform", "this", "pydoc", "timeit"):
        return PROBE
    tool = BY_NAME.get(mod)
    if tool is not None and tool.rule is not None:
        return tool.rule(rest)
    return CHANGE


_NODE_WRITES = re.compile(
    r"writeFile|appendFile|unlink|rmdir|\brm\b|mkdir|rename|copyFile|child_process|exec|spawn|"
    r"fetch\(|https?\b|\bnet\b|createWriteStream|symlink|chmod|truncate|fs\.promises"
)


def _node(args: Sequence[str]) -> Cls:
    g = _generic(args)
    if g:
        return g
    for i, a in enumerate(args):
        if a in ("-e", "--eval", "-p", "--print"):
            code = args[i + 1] if i + 1 < len(args) else ""
            return CHANGE if _NODE_WRITES.search(code) else PROBE
        if a == "--test":
            return CHECK
        if a == "--check" or a == "-c":
            return CHECK
    return CHANGE


_CURL_WRITES = _S(
    """-o -O --output --remote-name --remote-name-all -T --upload-file -d --data --data-raw
        --data-binary --data-urlencode --data-ascii -F --form --form-string --json -K --config"""
)


def _curl(args: Sequence[str]) -> Cls:
    if _flags(args) & _CURL_WRITES or any(
        a.startswith("-o") and len(a) > 2 and not a.startswith("--") for a in args
    ):
        return CHANGE
    for i, a in enumerate(args):
        method = ""
        if a in ("-X", "--request") and i + 1 < len(args):
            method = args[i + 1]
        elif a.startswith("-X") and len(a) > 2:
            method = a[2:]
        elif a.startswith("--request="):
            method = a.split("=", 1)[1]
        if method and method.upper() not in ("GET", "HEAD", "OPTIONS"):
            return CHANGE
    return PROBE


def _wget(args: Sequence[str]) -> Cls:
    if "--spider" in args:
        return PROBE
    for i, a in enumerate(args):
        if a in ("-O", "--output-document") and i + 1 < len(args) and args[i + 1] == "-":
            return PROBE
        if a in ("-O-", "-qO-", "--output-document=-") or (a.startswith("-") and a.endswith("O-")):
            return PROBE
    return _generic(args) or CHANGE


# git ------------------------------------------------------------------

_GIT_GLOBAL_VALUE = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path"})
_GIT_READ = _words(
    """status log show rev-parse ls-files ls-tree ls-remote blame annotate cat-file describe
    shortlog grep count-objects for-each-ref check-ignore check-attr check-ref-format
    check-mailmap diff-index diff-tree diff-files merge-base name-rev var whatchanged show-ref
    show-branch verify-commit verify-tag verify-pack cherry rev-list fsck range-diff help version
    difftool get-tar-commit-id"""
)


def git_split(args: Sequence[str]) -> tuple[str, list[str]]:
    """Skip git's global options: (subcommand, its arguments)."""
    i = 0
    while i < len(args):
        a = args[i]
        if a in _GIT_GLOBAL_VALUE:
            i += 2
        elif a.startswith("-"):
            i += 1
        else:
            return a, list(args[i + 1 :])
    return "", []


def _git(args: Sequence[str]) -> Cls:
    sub, rest = git_split(args)
    if not sub:
        return PROBE
    if sub == "diff":
        return CHECK if {"--check", "--exit-code"} & set(rest) else PROBE
    if sub in _GIT_READ:
        return PROBE
    if "--dry-run" in rest or (sub in ("clean", "add", "rm", "mv", "prune") and "-n" in rest):
        return PROBE
    if sub in ("--help", "--version", "-h"):
        return PROBE
    flags = _flags(rest)
    pos = _positionals(rest)
    if sub == "branch":
        if flags & _S(
            """-d -D --delete -m -M --move -c -C --copy -u --set-upstream-to --unset-upstream
            --edit-description -f --force"""
        ):
            return CHANGE
        listing = flags & _S(
            """-l --list --contains --no-contains --merged --no-merged --points-at -a --all -r
            --remotes"""
        )
        return CHANGE if pos and not listing else PROBE
    if sub == "tag":
        if flags & _S("-d --delete -a --annotate -s --sign -m --message -f --force -u -F --file"):
            return CHANGE
        listing = flags & _S("-l --list -n --contains --no-contains --merged --no-merged --points-at --sort")
        return CHANGE if pos and not listing else PROBE
    if sub == "remote":
        return PROBE if not pos or pos[0] in ("show", "get-url") else CHANGE
    if sub == "config":
        return _git_config(rest)
    if sub in ("worktree", "stash", "notes", "sparse-checkout"):
        return PROBE if pos and pos[0] in ("list", "show") else CHANGE
    if sub == "reflog":
        if pos and pos[0] in ("expire", "delete"):
            return PROBE if flags & {"-n", "--dry-run"} else CHANGE
        return PROBE
    if sub == "submodule":
        return PROBE if pos and pos[0] in ("status", "summary") else CHANGE
    if sub == "lfs":
        return PROBE if pos and pos[0] in ("ls-files", "status", "env", "version") else CHANGE
    if sub == "apply":
        return PROBE if flags & {"--check", "--stat", "--numstat", "--summary"} else CHANGE
    if sub == "symbolic-ref":
        return PROBE if len(pos) <= 1 and not flags & {"-d", "--delete"} else CHANGE
    if sub == "maintenance":
        return CHANGE if pos[:1] and pos[0] in ("run", "start", "stop", "register", "unregister") else PROBE
    if sub == "hash-object":
        return CHANGE if "-w" in flags else PROBE
    if sub in ("archive", "format-patch"):
        return PROBE if "--stdout" in flags or (sub == "archive" and "-o" not in flags) else CHANGE
    return CHANGE


_GIT_CONFIG_VALUE = frozenset({"-f", "--file", "--blob", "--type", "--default", "--comment"})


def _git_config(rest: Sequence[str]) -> Cls:
    flags = _flags(rest)
    if flags & _S("--unset --unset-all --add --replace-all --rename-section --remove-section -e --edit"):
        return CHANGE
    if flags & _S("-l --list --get --get-all --get-regexp --get-urlmatch --get-color --get-colorbool"):
        return PROBE
    pos = _positionals(rest, _GIT_CONFIG_VALUE)
    if pos and pos[0] in ("get", "list"):
        return PROBE
    if pos and pos[0] in ("set", "unset", "rename-section", "remove-section", "edit"):
        return CHANGE
    return PROBE if len(pos) <= 1 else CHANGE


# package managers and toolchains -------------------------------------


def _gh(args: Sequence[str]) -> Cls:
    g = _generic(args)
    if g:
        return g
    pos = _positionals(args, frozenset({"-R", "--repo", "-q", "--jq", "-t", "--template"}))
    if not pos:
        return PROBE
    group = pos[0]
    if group == "api":
        flags = _flags(args)
        for i, a in enumerate(args):
            if a in ("-X", "--method") and i + 1 < len(args):
                return PROBE if args[i + 1].upper() in ("GET", "HEAD") else CHANGE
            if a.startswith("--method="):
                return PROBE if a.split("=", 1)[1].upper() in ("GET", "HEAD") else CHANGE
        return CHANGE if flags & {"-f", "-F", "--field", "--raw-field", "--input"} else PROBE
    if group in ("search", "status", "browse", "version", "help"):
        return PROBE
    action = pos[1] if len(pos) > 1 else ""
    if group == "auth":
        return PROBE if action in ("status", "token") else CHANGE
    if group == "run" and action == "watch":
        return PROBE
    if group == "pr" and action == "checks":
        return PROBE
    if action in ("view", "list", "ls", "status", "diff", "checks", "verify"):
        return PROBE
    return CHANGE


_GO_CHECK = frozenset({"test", "vet"})
_GO_PROBE = frozenset({"list", "doc", "version", "help", "bug"})


def _go(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos:
        return _generic(args) or PROBE
    sub = pos[0]
    rest = list(args[args.index(sub) + 1 :])
    if sub in _GO_CHECK:
        return CHECK
    if sub in _GO_PROBE:
        return PROBE
    if sub == "env":
        return CHANGE if {"-w", "-u"} & set(rest) else PROBE
    if sub == "build":
        return CHANGE if "-o" in rest or any(a.startswith("-o=") for a in rest) else CHECK
    if sub == "mod":
        action = rest[0] if rest else ""
        if action in ("why", "graph"):
            return PROBE
        if action == "verify":
            return CHECK
        if action == "tidy" and ("-diff" in rest or "--diff" in rest):
            return CHECK
        return CHANGE
    if sub == "tool":
        return PROBE if not rest or rest[0] in ("-n",) else CHANGE
    return CHANGE


def _gofmt(args: Sequence[str]) -> Cls:
    return CHANGE if _short(args, "w") or "-w" in args else PROBE


def _cargo(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos:
        return _generic(args) or PROBE
    sub, rest = pos[0], args[args.index(pos[0]) + 1 :]
    if sub in ("test", "t", "check", "c", "bench", "nextest", "audit", "deny", "machete"):
        return CHECK
    if sub == "clippy":
        return CHANGE if "--fix" in rest else CHECK
    if sub == "fmt":
        return CHECK if "--check" in rest else CHANGE
    if sub in _S("tree metadata search version help locate-project pkgid verify-project") or (
        sub in ("read-manifest", "info")
    ):
        return PROBE
    return CHANGE


_NPM_PROBE = _words(
    """ls list la ll view v info show outdated search explain why doctor help root bin prefix
    fund query pkg-get config-get whoami ping"""
)
_NPM_CHECK = frozenset({"test", "t", "tst", "lint"})
_NPM_VALUE = frozenset({"--prefix", "-w", "--workspace", "-C", "--dir", "--filter", "--cwd"})


def _npm_like(args: Sequence[str], *, implicit_run: bool) -> Verdict:
    g = _generic(args)
    if g:
        return g
    pos = _positionals(args, _NPM_VALUE)
    if not pos:
        return PROBE if not args or (args[0].startswith("-") and "--version" in args) else CHANGE
    sub = pos[0]
    if sub in _NPM_CHECK:
        return CHECK
    if sub in _NPM_PROBE:
        return PROBE
    if sub == "audit":
        return CHANGE if "fix" in pos else CHECK
    if sub == "config":
        return PROBE if len(pos) > 1 and pos[1] in ("get", "list", "ls") else CHANGE
    if sub in ("run", "run-script", "rum", "urn"):
        return _tasks(pos[1:2]) if len(pos) > 1 else PROBE
    if sub in ("exec", "x", "dlx") and len(pos) > 1:
        return _run(args[args.index(pos[1]) :])
    if sub == "version":
        return PROBE if len(pos) == 1 else CHANGE
    if sub == "pack" and "--dry-run" in args:
        return PROBE
    if implicit_run and sub not in _PM_COMMANDS:
        return classify_task(sub)
    return CHANGE


_PM_COMMANDS = _words(
    """install i ci add remove rm uninstall un update up upgrade publish link unlink init create
    import dedupe prune rebuild set cache patch pack global workspace workspaces why bin dlx exec
    node"""
)


def _bun(args: Sequence[str]) -> Verdict:
    pos = _positionals(args)
    if pos and pos[0] == "test":
        return CHECK
    if pos and pos[0] == "x":
        return _run(args[args.index("x") + 1 :])
    return _npm_like(args, implicit_run=True)


def _pip(args: Sequence[str]) -> Cls:
    g = _generic(args)
    if g:
        return g
    pos = _positionals(args)
    if not pos:
        return PROBE
    sub = pos[0]
    if sub in ("list", "show", "freeze", "help", "index", "search", "inspect", "debug", "hash"):
        return PROBE
    if sub == "check":
        return CHECK
    if sub in ("config", "cache"):
        return PROBE if len(pos) > 1 and pos[1] in ("list", "get", "dir", "info") else CHANGE
    return CHANGE


def _uv(args: Sequence[str]) -> Verdict:
    g = _generic(args)
    if g:
        return g
    pos = _positionals(args)
    if not pos:
        return PROBE
    sub = pos[0]
    rest = args[args.index(sub) + 1 :]
    if sub == "pip":
        return _pip(rest)
    if sub == "run":
        return _run(
            skip_options(
                rest, _S("--with --python -p --package --group --extra --env-file --directory --project")
            )
        )
    if sub in ("tree", "version", "help"):
        return PROBE
    if sub in ("python", "tool", "cache") and len(pos) > 1 and pos[1] in ("list", "find", "dir"):
        return PROBE
    if sub == "lock" and {"--check", "--locked"} & set(rest):
        return CHECK
    return CHANGE


def _poetry(args: Sequence[str]) -> Verdict:
    g = _generic(args)
    if g:
        return g
    pos = _positionals(args)
    if not pos:
        return PROBE
    if pos[0] == "run":
        return _run(args[args.index("run") + 1 :])
    if pos[0] == "check":
        return CHECK
    if pos[0] in ("show", "search", "about", "list"):
        return PROBE
    if pos[0] == "env" and len(pos) > 1 and pos[1] in ("info", "list"):
        return PROBE
    if pos[0] == "version" and len(pos) == 1:
        return PROBE
    return CHANGE


def _bundle(args: Sequence[str]) -> Verdict:
    pos = _positionals(args)
    if pos and pos[0] == "exec":
        return _run(args[args.index("exec") + 1 :])
    if pos and pos[0] in ("list", "show", "info", "outdated", "check", "config", "platform"):
        return PROBE
    return _generic(args) or CHANGE


def _make(args: Sequence[str]) -> Cls:
    if _S("-n --dry-run --just-print --recon -q --question -p --print-data-base") & set(args):
        return PROBE
    g = _generic(args)
    if g:
        return g
    targets = [a for a in _positionals(args, frozenset({"-C", "-f", "--file", "-j", "-l"})) if "=" not in a]
    return _tasks(targets)


def _mise(args: Sequence[str]) -> Verdict:
    g = _generic(args)
    if g:
        return g
    pos = _positionals(args, frozenset({"-C", "--cd", "-E", "--env", "-j", "--jobs"}))
    if not pos:
        return CHANGE
    sub = pos[0]
    if sub in ("run", "r"):
        return _tasks([p for p in pos[1:] if p != ":::"][:8])
    if sub in ("exec", "x"):
        rest = list(args)
        if "--" in rest:
            return _run(rest[rest.index("--") + 1 :])
        return CHANGE
    if sub in _S(
        """ls list ls-remote current where which env doctor version bin-paths outdated latest
        registry search"""
    ):
        return PROBE
    if sub in ("tasks", "task", "settings", "config", "plugins", "alias"):
        return PROBE if len(pos) == 1 or pos[1] in ("ls", "list", "get", "info") else CHANGE
    if sub in _S(
        """install i use u upgrade up uninstall trust set unset self-update prune sync link
        activate deactivate implode"""
    ):
        return CHANGE
    return classify_task(sub)


def _just_like(args: Sequence[str]) -> Cls:
    if _S("-l --list --summary --show -s --dry-run -n --dump --evaluate --variables --list-all -a") & set(
        args
    ):
        return PROBE
    g = _generic(args)
    if g:
        return g
    return _tasks(
        [
            a
            for a in _positionals(args, frozenset({"-f", "--justfile", "-d", "-t", "--taskfile", "--dir"}))
            if "=" not in a
        ]
    )


def _gradle_like(args: Sequence[str]) -> Cls:
    g = _generic(args)
    if g:
        return g
    goals = [a for a in _positionals(args) if "=" not in a]
    if goals and all(
        g.split(":")[-1] in ("tasks", "dependencies", "projects", "properties", "help", "tree")
        or g.startswith("help:")
        or g == "dependency:tree"
        for g in goals
    ):
        return PROBE
    return _tasks([g.split(":")[-1] for g in goals])


def _docker(args: Sequence[str]) -> Cls:
    g = _generic(args)
    if g:
        return g
    pos = _positionals(
        args,
        _S("-f --file -p --project-name -H --host --context -c --env-file"),
    )
    if not pos:
        return PROBE
    sub = pos[0]
    if sub == "compose" and len(pos) > 1:
        sub = pos[1]
        pos = pos[1:]
    if sub in _S("ps images logs inspect version info top stats history port diff search events") or (
        sub in ("config", "ls")
    ):
        return PROBE
    if (
        sub in _S("image container network volume context buildx system node service secret plugin")
        and len(pos) > 1
    ):
        return (
            PROBE
            if pos[1] in ("ls", "list", "inspect", "logs", "show", "df", "info", "history", "ps")
            else CHANGE
        )
    return CHANGE


def _kubectl(args: Sequence[str]) -> Cls:
    g = _generic(args)
    if g or any(a.startswith("--dry-run") for a in args):
        return PROBE
    pos = _positionals(
        args,
        _S("-n --namespace -o --output -l --selector -c --container --context"),
    )
    if not pos:
        return PROBE
    if pos[0] in _S(
        """get describe logs explain version top diff api-resources api-versions cluster-info
        events"""
    ):
        return PROBE
    if (
        pos[0] == "config"
        and len(pos) > 1
        and pos[1] in ("view", "get-contexts", "current-context", "get-clusters")
    ):
        return PROBE
    if pos[0] == "auth" and len(pos) > 1 and pos[1] in ("can-i", "whoami"):
        return PROBE
    if pos[0] == "rollout" and len(pos) > 1 and pos[1] in ("status", "history"):
        return PROBE
    return CHANGE


def _helm(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] == "lint":
        return CHECK
    if pos and pos[0] in _S("list ls status get show template search history version env verify"):
        return PROBE
    if len(pos) > 1 and pos[0] in ("repo", "dependency", "plugin") and pos[1] in ("list", "ls"):
        return PROBE
    return _generic(args) or CHANGE


def _terraform(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos:
        return _generic(args) or PROBE
    sub = pos[0]
    if sub == "validate":
        return CHECK
    if sub == "fmt":
        return CHECK if {"-check", "--check"} & set(args) else CHANGE
    if sub in ("plan", "show", "output", "version", "providers", "graph", "console"):
        return PROBE
    if sub == "state" and len(pos) > 1 and pos[1] in ("list", "show", "pull"):
        return PROBE
    return CHANGE


def _brew(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos:
        return _generic(args) or PROBE
    if pos[0] in _S(
        """list ls info search config doctor deps uses leaves outdated desc cat log home --prefix
        --cellar shellenv commands services"""
    ) and not (pos[0] == "services" and len(pos) > 1 and pos[1] not in ("list", "info")):
        return PROBE
    if "--prefix" in args or "--cellar" in args or "--repository" in args:
        return PROBE
    return _generic(args) or CHANGE


def _apt(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in _S("list search show policy depends rdepends showsrc madison changelog"):
        return PROBE
    return _generic(args) or CHANGE


def _dnf(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in _S("list info search repolist provides check-update repoquery deplist history"):
        return PROBE
    return _generic(args) or CHANGE


def _dpkg(args: Sequence[str]) -> Cls:
    if _flags(args) & _S(
        """-l -L -s -S -p --list --status --listfiles --search --print-architecture --get-
        selections -c --contents -I --info --compare-versions"""
    ):
        return PROBE
    return CHANGE


def _rpm(args: Sequence[str]) -> Cls:
    return PROBE if any(a.startswith("-q") or a == "--query" for a in args) else CHANGE


def _systemctl(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos or pos[0] in _S(
        """status show is-active is-enabled is-failed list-units list-unit-files list-timers list-
        sockets cat list-dependencies get-default help"""
    ):
        return PROBE
    return _generic(args) or CHANGE


def _launchctl(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in _S(
        """list print print-disabled blame procinfo version print-cache dumpstate managerpid
        manageruid getenv"""
    ):
        return PROBE
    return CHANGE


def _defaults(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in ("read", "read-type", "domains", "find", "help"):
        return PROBE
    return CHANGE


def _tar(args: Sequence[str]) -> Cls:
    first = args[0] if args else ""
    if first and not first.startswith("-") and "t" in first and "x" not in first and "c" not in first:
        return PROBE
    if "--list" in args or (_short(args, "t") and not (_short(args, "x") or _short(args, "c"))):
        return PROBE
    return CHANGE


def _unzip(args: Sequence[str]) -> Cls:
    return PROBE if {"-l", "-Z", "-t", "-v", "-p"} & set(args) or _short(args, "l") else CHANGE


def _openssl(args: Sequence[str]) -> Cls:
    return CHANGE if {"-out", "-keyout"} & set(args) or (args and args[0] == "genrsa") else PROBE


def _perl(args: Sequence[str]) -> Cls:
    if any(a.startswith("-i") or (a.startswith("-") and "i" in a[1:] and a[1:].isalpha()) for a in args):
        return CHANGE
    if any(a.startswith("-") and ("n" in a[1:] or "p" in a[1:]) and a[1:].isalpha() for a in args):
        return PROBE
    return _generic(args) or CHANGE


def _ip(args: Sequence[str]) -> Cls:
    return CHANGE if {"add", "del", "delete", "set", "flush", "change", "replace"} & set(args) else PROBE


def _plutil(args: Sequence[str]) -> Cls:
    return PROBE if {"-p", "-lint", "-help", "-extract"} & set(args) and "-o" not in args else CHANGE


def _sysctl(args: Sequence[str]) -> Cls:
    return CHANGE if "-w" in args or any("=" in a for a in args) else PROBE


def _tsc(args: Sequence[str]) -> Cls:
    if "--noEmit" in args or "--noemit" in args:
        return CHECK
    return _generic(args) or CHANGE


def _ruff(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    g = _generic(args)
    if g:
        return g
    if pos and pos[0] == "format":
        return CHECK if {"--check", "--diff"} & set(args) else CHANGE
    if pos and pos[0] in ("version", "rule", "config", "linter", "help"):
        return PROBE
    return (
        CHANGE
        if {"--fix", "--fix-only", "--unsafe-fixes"} & _flags(args) and "--no-fix" not in args
        else CHECK
    )


def _golangci(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    g = _generic(args)
    if g:
        return g
    if pos and pos[0] in ("version", "help", "linters", "completion"):
        return PROBE
    if pos and pos[0] == "fmt":
        return CHECK if {"-d", "--diff"} & set(args) else CHANGE
    return CHANGE if "--fix" in args else CHECK


def _check_or_write(
    check: frozenset[str], write: frozenset[str], default: Cls
) -> Callable[[Sequence[str]], Cls]:
    def rule(args: Sequence[str]) -> Cls:
        flags = _flags(args)
        if flags & write:
            return CHANGE
        if flags & check:
            return CHECK
        return _generic(args) or default

    return rule


def _biome(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if {"--write", "--apply", "--apply-unsafe", "--fix"} & _flags(args):
        return CHANGE
    if pos and pos[0] in ("check", "lint", "ci"):
        return CHECK
    if pos and pos[0] == "format":
        return PROBE
    return _generic(args) or CHANGE


def _deno(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos:
        return _generic(args) or CHANGE
    if pos[0] in ("test", "lint", "check", "bench"):
        return CHECK
    if pos[0] == "fmt":
        return CHECK if "--check" in args else CHANGE
    if pos[0] in ("info", "doc", "types", "help"):
        return PROBE
    if pos[0] == "task":
        return _tasks(pos[1:2])
    return CHANGE


def _dotnet(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] == "test":
        return CHECK
    if pos and pos[0] == "format":
        return CHECK if "--verify-no-changes" in args else CHANGE
    if (pos and pos[0] in ("list", "--info", "help", "sdk")) or "--info" in args:
        return PROBE
    return _generic(args) or CHANGE


def _swift(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] == "test":
        return CHECK
    if (
        pos
        and pos[0] == "package"
        and len(pos) > 1
        and pos[1] in ("describe", "dump-package", "show-dependencies")
    ):
        return PROBE
    return _generic(args) or CHANGE


def _flutter(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in ("test", "analyze"):
        return CHECK
    if pos and pos[0] == "format":
        return CHECK if "--set-exit-if-changed" in args else CHANGE
    if pos and pos[0] in ("doctor", "devices", "--version", "info"):
        return PROBE
    return _generic(args) or CHANGE


def _mix(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in ("test", "credo", "dialyzer"):
        return CHECK
    if pos and pos[0] == "format":
        return CHECK if "--check-formatted" in args else CHANGE
    return _generic(args) or CHANGE


def _bazel(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in ("test", "coverage"):
        return CHECK
    if pos and pos[0] in ("query", "cquery", "aquery", "info", "version", "help"):
        return PROBE
    return CHANGE


def _pre_commit(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in ("install", "uninstall", "autoupdate", "clean", "gc", "install-hooks"):
        return CHANGE
    return CHECK if (pos and pos[0] in ("run",)) or not pos else _generic(args) or CHANGE


def _rustup(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos or pos[0] in ("show", "which", "--version", "help", "doc"):
        return PROBE
    if len(pos) > 1 and pos[0] in ("toolchain", "target", "component") and pos[1] == "list":
        return PROBE
    return _generic(args) or CHANGE


def _gem(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in _S(
        "list search info env spec specification which contents query help outdated dependency"
    ):
        return PROBE
    return _generic(args) or CHANGE


def _conda(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in ("list", "info", "search", "config") and "--set" not in args and "--add" not in args:
        return PROBE
    if len(pos) > 1 and pos[0] == "env" and pos[1] in ("list", "export"):
        return PROBE
    return _generic(args) or CHANGE


def _probe_unless(*flags: str) -> Callable[[Sequence[str]], Cls]:
    def rule(args: Sequence[str]) -> Cls:
        return CHANGE if set(flags) & _flags(args) else PROBE

    return rule


def _wrapped(takes_value: frozenset[str]) -> Rule:
    """A runner (`npx`, `uvx`): its options, then the command it runs."""

    def rule(args: Sequence[str]) -> Verdict:
        return _run(skip_options(args, takes_value))

    return rule


def _pipx(args: Sequence[str]) -> Verdict:
    if list(args[:1]) == ["run"]:
        return _run(skip_options(args[1:], frozenset({"--spec"})))
    return PROBE if list(args[:1]) == ["list"] else CHANGE


# ---------------------------------------------------------------- risk, idempotence, intent, effects

_INSTALL_SUBS = frozenset({"install", "i", "ci", "add", "sync", "get", "upgrade"})
_GIT_KNOWN = _words(
    """add commit push config remote tag fetch branch read-tree update-index update-ref notes gc
    prune reflog"""
)


def _rm_risk(args: Sequence[str]) -> Risk:
    return "high" if _short(args, "r") or _short(args, "R") or "--recursive" in args else "medium"


def _recursive_risk(args: Sequence[str]) -> Risk:
    return "high" if _short(args, "R") or "--recursive" in args else "low"


def _git_risk(args: Sequence[str]) -> Risk:
    sub, rest = git_split(args)
    if sub == "push":
        return "high"
    if (
        (sub == "reset" and "--hard" in rest)
        or sub in ("clean", "restore")
        or (sub == "checkout" and ("." in rest or "--" in rest or "-f" in rest))
        or (sub == "stash" and rest[:1] in (["drop"], ["clear"]))
        or (sub == "branch" and "-D" in rest)
        or sub == "rebase"
    ):
        return "medium"
    return "low"


def _git_idem(args: Sequence[str]) -> Idem:
    sub, rest = git_split(args)
    if sub == "config" or (sub == "remote" and rest[:1] == ["set-url"]):
        return "state"
    return "content" if sub in ("add", "fetch") else "none"


def _git_intent(args: Sequence[str]) -> str:
    return f"git {git_split(args)[0]}"


def _git_known(args: Sequence[str]) -> bool:
    return git_split(args)[0] in _GIT_KNOWN


def _kubectl_risk(args: Sequence[str]) -> Risk:
    return "high" if args[:1] == ["delete"] else "medium"


def _terraform_risk(args: Sequence[str]) -> Risk:
    return "high" if args[:1] in (["apply"], ["destroy"]) else "low"


def _gh_risk(args: Sequence[str]) -> Risk:
    if args[:2] in (["repo", "delete"], ["release", "delete"]):
        return "high"
    return "medium" if _gh(args) == CHANGE else "low"


def _install_risk(args: Sequence[str]) -> Risk:
    """Installing packages runs code from the network."""
    pos = _positionals(args)
    if pos and (pos[0] in _INSTALL_SUBS or (pos[0] == "pip" and pos[1:2] == ["install"])):
        return "medium"
    return "low"


def _pacman_risk(args: Sequence[str]) -> Risk:
    return "medium" if any(a.startswith("-S") for a in args) else _install_risk(args)


def _parents_idem(args: Sequence[str]) -> Idem:
    return "state" if _short(args, "p") or "--parents" in args else "none"


def _force_idem(args: Sequence[str]) -> Idem:
    return "state" if _short(args, "f") or "--force" in args else "none"


def _system_install_idem(args: Sequence[str]) -> Idem:
    return "state" if args[:1] == ["install"] else "none"


def _pm_idem(args: Sequence[str]) -> Idem:
    return "content" if args[:1] and args[0] in ("install", "i", "ci", "sync", "add") else "none"


def _task_idem(args: Sequence[str]) -> Idem:
    """A formatting task gives the same tree whenever the sources are the same."""
    names = [a for a in args if not a.startswith("-") and a not in ("run", "r")]
    if names and set(re.split(r"[:\-_./]+", names[0].lower())) & {"fmt", "format", "tidy"}:
        return "content"
    return "none"


def _js_pm_idem(args: Sequence[str]) -> Idem:
    return "content" if "content" in (_pm_idem(args), _task_idem(args)) else "none"


def _fmt_idem(args: Sequence[str]) -> Idem:
    return "content" if args[:1] in (["format"], ["fmt"]) else "none"


def _go_idem(args: Sequence[str]) -> Idem:
    if args[:1] in (["get"], ["fmt"], ["generate"]) or args[:2] in (["mod", "tidy"], ["mod", "download"]):
        return "content"
    return "none"


def _writes_output(args: Sequence[str]) -> bool:
    """`-o FILE` and friends: the one file it makes is named."""
    return any(a in CREATING_OUTPUT for a in args[:-1])


def _go_known(args: Sequence[str]) -> bool:
    return _writes_output(args) and _positionals(args)[:1] == ["build"]


# ---------------------------------------------------------------- the table

_MYSQL = _pw("MYSQL_PASSWORD", glued="-p", equals="--password")
_MONGO = _pw("MONGO_PASSWORD", spaced="-p --password")
_LDAP = _pw("LDAP_PASSWORD", glued="-w", spaced="-w")
_REGISTRY = _pw("REGISTRY_PASSWORD", glued="-p", spaced="-p --password", subcommand="login")
_DOCKER_PW = _pw("DOCKER_PASSWORD", glued="-p", spaced="-p --password", subcommand="login")
_CONTAINERS = frozenset({"docker", "podman", "docker-compose", "kubectl", "helm"})
_BUILTIN_WORDS = _words(
    """alias bg bind break builtin caller cd compgen complete compopt continue declare dirs
    disown echo enable eval exit export false fc fg getopts hash help history jobs kill let local
    logout mapfile popd printf pushd pwd read readarray readonly return set shift shopt source
    suspend test times trap true type typeset ulimit umask unalias unset wait . : [ [[ ]] ! { } if
    then else elif fi case esac for while until do done in function select coproc"""
)


def _many(names: frozenset[str], **fields: Any) -> list[Tool]:
    """One record per program of a family that shares everything but the name."""
    return [Tool((n,), **fields) for n in sorted(names)]


def _check_or_write_tool(name: str, check: str, write: str, default: Cls, **fields: Any) -> Tool:
    return Tool((name,), rule=_check_or_write(wordset(check), wordset(write), default), **fields)


def _family(names: frozenset[str], taken: tuple[Tool, ...], **fields: Any) -> list[Tool]:
    """One record per program of a family that shares everything but the name, leaving out
    the programs that have a record of their own."""
    own = {n for t in taken for n in t.names}
    return [Tool((n,), **fields) for n in sorted(names - own)]


_OWN: tuple[Tool, ...] = (
    # wrappers: the rest of the line is the command
    Tool(("sudo",), wrapper=Wrapper(_S("-u -g -C -D -h -p -r -t -U -T")), risk="high"),
    Tool(("doas",), wrapper=Wrapper(_S("-u -C")), risk="high"),
    Tool(("time",), wrapper=Wrapper(_S("-f -o")), builtin=True),
    Tool(("nice",), wrapper=Wrapper(_S("-n"))),
    Tool(("nohup",), wrapper=Wrapper()),
    Tool(("exec",), wrapper=Wrapper(_S("-a")), builtin=True),
    Tool(("builtin",), wrapper=Wrapper(), builtin=True),
    Tool(("stdbuf",), wrapper=Wrapper(_S("-i -o -e"))),
    Tool(("ionice",), wrapper=Wrapper(_S("-c -n -p"))),
    Tool(("caffeinate",), wrapper=Wrapper(_S("-t -w"))),
    Tool(("watch",), wrapper=Wrapper(_S("-n -d --interval"))),
    Tool(("chronic",), wrapper=Wrapper()),
    Tool(("env",), wrapper=Wrapper(_S("-u -C -S"), assigns=True), cls=PROBE),
    Tool(("timeout", "gtimeout"), wrapper=Wrapper(_S("-s -k --signal --kill-after"), operands=1)),
    Tool(("command",), wrapper=Wrapper(stop_on=_S("-v -V")), cls=PROBE, builtin=True),
    # runners: a package's command, fetched when missing
    Tool(("npx",), rule=_wrapped(_S("-p --package -c --call")), risk="medium"),
    Tool(("bunx",), rule=_wrapped(_S("-p --package")), risk="medium"),
    Tool(("pnpx",), rule=_wrapped(frozenset()), risk="medium"),
    Tool(("uvx",), rule=_wrapped(_S("--from --with --python -p")), risk="medium"),
    Tool(("dotenv",), rule=_wrapped(_S("-e -f -v"))),
    Tool(("pipx",), rule=_pipx, risk=_install_risk),
    Tool(("xargs",), rule=_xargs),
    Tool(("eval",), rule=lambda a: Run(text=" ".join(a)), builtin=True),
    # the shell and interpreters
    *_many(_S("sh bash zsh dash ksh fish"), rule=_shell, interpreter=True),
    Tool(("source", "."), rule=_source, builtin=True),
    Tool(("python", "pypy", "pypy3", "py"), prefix="python", rule=_python, interpreter=True),
    Tool(("node",), rule=_node, interpreter=True),
    Tool(("perl",), rule=_perl, interpreter=True),
    Tool(("ruby",), interpreter=True),
    # files
    Tool(("rm",), risk=_rm_risk, known=True),
    Tool(("rmdir",), known=True),
    Tool(("mkdir",), idem=_parents_idem, known=True),
    Tool(("ln",), idem=_force_idem, known=True),
    Tool(("touch",), idem="state", known=True),
    *_many(_S("chmod chown chgrp"), risk=_recursive_risk, idem="state", known=True),
    Tool(("cp",), idem="content", known=True),
    Tool(("mv",), known=True),
    Tool(("install",), known=True),
    Tool(("rsync",), idem="content"),
    *_many(_S("dd shred fdisk parted wipefs shutdown reboot halt"), risk="high"),
    Tool(("mkfs",), prefix="mkfs", cls=CHANGE, risk="high"),
    Tool(("sed", "gsed"), rule=_sed),
    Tool(("awk", "gawk", "mawk", "nawk"), rule=_awk),
    Tool(("find", "gfind"), rule=_find),
    Tool(("tee",), rule=_tee, known=True),
    Tool(("sort",), rule=_sort),
    Tool(("yq",), rule=_yq),
    Tool(("tar",), rule=_tar),
    Tool(("unzip",), rule=_unzip, password=_pw("ZIP_PASSWORD", spaced="-P")),
    Tool(("zip",), password=_pw("ZIP_PASSWORD", spaced="-P --password")),
    Tool(("7z",), password=_pw("ARCHIVE_PASSWORD", glued="-p")),
    Tool(("iconv",), rule=_probe_unless("-o", "--output")),
    Tool(("mktemp",), cls=PROBE),
    Tool(("cat",), cls=PROBE, known=True),
    Tool(("echo",), cls=PROBE, known=True, builtin=True),
    Tool(("printf",), cls=PROBE, known=True, builtin=True),
    Tool(("sleep",), cls=PROBE, known=True),
    # processes and the system
    Tool(("kill",), cls=CHANGE, risk="medium", known=True, builtin=True),
    Tool(("pkill",), risk="medium", known=True),
    Tool(("killall",), risk="medium"),
    Tool(("systemctl",), rule=_systemctl),
    Tool(("launchctl",), rule=_launchctl),
    Tool(("defaults",), rule=_defaults),
    Tool(("ip",), rule=_ip),
    Tool(("plutil",), rule=_plutil),
    Tool(("sysctl",), rule=_sysctl),
    Tool(
        ("openssl",),
        rule=_openssl,
        password=_pw("OPENSSL_PASSPHRASE", spaced="-passin -passout -pass", after="pass:"),
    ),
    Tool(
        ("keytool",),
        password=_pw("KEYSTORE_PASSWORD", spaced="-storepass -keypass -srcstorepass -deststorepass"),
    ),
    Tool(("htpasswd",), password=_pw("HTPASSWD_PASSWORD", last_arg_with="b")),
    Tool(("sshpass",), password=_pw("SSHPASS", glued="-p", spaced="-p")),
    # the network
    Tool(
        ("curl",),
        rule=_curl,
        known=_writes_output,
        password=_pw("CURL_PASSWORD", glued="-u -U", spaced="-u -U --user --proxy-user", after=":"),
    ),
    Tool(
        ("wget",),
        rule=_wget,
        known=_writes_output,
        password=_pw("WGET_PASSWORD", spaced="--password --http-password --ftp-password --proxy-password"),
    ),
    # version control
    Tool(("git",), rule=_git, risk=_git_risk, idem=_git_idem, intent=_git_intent, known=_git_known),
    Tool(("gh",), rule=_gh, risk=_gh_risk),
    # toolchains and package managers
    Tool(("go",), rule=_go, risk=_install_risk, idem=_go_idem, known=_go_known),
    Tool(("gofmt", "goimports"), rule=_gofmt, idem="content"),
    Tool(("cargo",), rule=_cargo, risk=_install_risk, idem=_fmt_idem),
    Tool(("npm",), rule=lambda a: _npm_like(a, implicit_run=False), risk=_install_risk, idem=_js_pm_idem),
    Tool(("pnpm",), rule=lambda a: _npm_like(a, implicit_run=True), risk=_install_risk, idem=_js_pm_idem),
    Tool(("yarn",), rule=lambda a: _npm_like(a, implicit_run=True), risk=_install_risk, idem=_js_pm_idem),
    Tool(("bun",), rule=_bun, risk=_install_risk, idem=_js_pm_idem),
    Tool(("pip", "pip3"), rule=_pip, risk=_install_risk, idem=_pm_idem),
    Tool(("uv",), rule=_uv, risk=_install_risk, idem=_pm_idem),
    Tool(("poetry",), rule=_poetry, risk=_install_risk, idem=_pm_idem),
    Tool(("pipenv",), rule=_poetry),
    Tool(("bundle",), rule=_bundle, risk=_install_risk, idem=_pm_idem),
    Tool(("gem",), rule=_gem, risk=_install_risk),
    Tool(("composer",), risk=_install_risk),
    Tool(("conda", "mamba"), rule=_conda, risk=_install_risk),
    Tool(("micromamba",), rule=_conda),
    Tool(("brew",), rule=_brew, risk=_install_risk, idem=_system_install_idem),
    Tool(("apt",), rule=_apt, risk=_install_risk, idem=_system_install_idem),
    Tool(("apt-get",), rule=_apt, risk=_install_risk, idem=_system_install_idem),
    Tool(("apt-cache",), cls=PROBE),
    Tool(("dnf", "yum"), rule=_dnf, risk=_install_risk, idem=_system_install_idem),
    Tool(("apk",), risk=_install_risk),
    Tool(("pacman",), risk=_pacman_risk),
    Tool(("dpkg",), rule=_dpkg),
    Tool(("dpkg-query",), cls=PROBE),
    Tool(("rpm",), rule=_rpm),
    Tool(("rustup",), rule=_rustup),
    Tool(("deno",), rule=_deno),
    Tool(("dotnet",), rule=_dotnet),
    Tool(("swift",), rule=_swift),
    Tool(("flutter", "dart"), rule=_flutter),
    Tool(("mix",), rule=_mix),
    Tool(("bazel", "bazelisk"), rule=_bazel),
    Tool(("meson",), rule=lambda a: CHECK if a and a[0] == "test" else CHANGE),
    *_many(_S("gcc cc clang g++ clang++ rustc"), known=_writes_output),
    # task runners
    Tool(("make", "gmake"), rule=_make, idem=_task_idem),
    Tool(("mise",), rule=_mise, idem=_task_idem),
    Tool(("just", "task"), rule=_just_like, idem=_task_idem),
    Tool(("rake", "invoke", "inv"), rule=_just_like),
    Tool(("gradle", "gradlew", "mvn", "mvnw"), rule=_gradle_like),
    # containers and infrastructure
    Tool(("docker",), rule=_docker, risk="medium", password=_DOCKER_PW),
    Tool(("podman",), rule=_docker, risk="medium", password=_REGISTRY),
    Tool(("docker-compose",), rule=lambda a: _docker(["compose", *a]), risk="medium"),
    Tool(("nerdctl",), password=_REGISTRY),
    Tool(("skopeo",), password=_REGISTRY),
    Tool(("kubectl",), rule=_kubectl, risk=_kubectl_risk),
    Tool(("oc",), rule=_kubectl),
    Tool(("helm",), rule=_helm, risk="medium", password=_REGISTRY),
    Tool(("terraform", "tofu"), rule=_terraform, risk=_terraform_risk, idem=_fmt_idem),
    Tool(("az",), password=_pw("AZURE_PASSWORD", glued="-p", spaced="-p --password", subcommand="login")),
    # databases and directories: passwords on the command line
    *_many(
        _S("mysql mysqldump mysqladmin mysqlimport mysqlcheck mysqlsh mariadb mariadb-dump mariadb-admin"),
        password=_MYSQL,
    ),
    *_many(_S("mongo mongosh mongodump mongorestore mongoexport mongoimport"), password=_MONGO),
    *_many(_S("ldapsearch ldapadd ldapmodify ldapdelete ldappasswd"), password=_LDAP),
    Tool(("redis-cli",), password=_pw("REDISCLI_AUTH", spaced="-a --pass")),
    Tool(("sqlcmd",), password=_pw("SQLCMD_PASSWORD", spaced="-P")),
    # formatters and linters: a verdict, or a change with their fix flags
    Tool(("tsc", "vue-tsc"), rule=_tsc),
    Tool(("ruff",), rule=_ruff, idem=_fmt_idem),
    Tool(("golangci-lint",), rule=_golangci, idem=_fmt_idem),
    Tool(("biome",), rule=_biome, idem=_fmt_idem),
    Tool(("pre-commit",), rule=_pre_commit),
    _check_or_write_tool("prettier", "--check -c --list-different -l", "--write -w", PROBE, idem="content"),
    _check_or_write_tool("black", "--check --diff", "", CHANGE, idem="content"),
    _check_or_write_tool("isort", "--check --check-only -c --diff", "", CHANGE, idem="content"),
    _check_or_write_tool("autopep8", "--diff", "-i --in-place", PROBE, idem="content"),
    _check_or_write_tool("yapf", "--diff -d", "-i --in-place", PROBE, idem="content"),
    _check_or_write_tool("rustfmt", "--check", "", CHANGE, idem="content"),
    _check_or_write_tool("clang-format", "--dry-run -n --Werror", "-i", PROBE, idem="content"),
    _check_or_write_tool("shfmt", "-d -l --diff --list", "-w --write", PROBE, idem="content"),
    _check_or_write_tool("stylua", "--check", "", CHANGE, idem="content"),
    _check_or_write_tool("swiftformat", "--lint", "", CHANGE),
    Tool(("sqlfluff",), rule=lambda a: CHECK if a and a[0] == "lint" else CHANGE),
    Tool(("taplo",), rule=lambda a: CHECK if "--check" in a or (a and a[0] in ("check", "lint")) else CHANGE),
    Tool(
        ("dprint",), rule=lambda a: CHECK if a and a[0] == "check" else _generic(a) or CHANGE, idem=_fmt_idem
    ),
    Tool(("buf",), rule=lambda a: CHECK if a and a[0] in ("lint", "breaking") else _generic(a) or CHANGE),
    Tool(("ctest",), cls=CHECK),
)
TOOLS: tuple[Tool, ...] = (
    *_OWN,
    *_family(_TEST_BINS, _OWN, cls=CHECK),
    *_family(_LINT_BINS, _OWN, rule=_linter),
    *_family(_PROBE_BINS - _BUILTIN_WORDS, _OWN, cls=PROBE),
    *_family(_PROBE_BINS & _BUILTIN_WORDS, _OWN, cls=PROBE, builtin=True),
    *_family(_BUILTIN_WORDS - _PROBE_BINS, _OWN, builtin=True),
)
"""Everything aionis knows about programs: one record per tool, extended here and only here."""

BY_NAME: dict[str, Tool] = {n: t for t in TOOLS for n in t.names}
_PREFIXED = tuple(t for t in TOOLS if t.prefix)
BUILTINS = frozenset(n for t in TOOLS if t.builtin for n in t.names)
"""Shell builtins and keywords: never a missing program."""


@lru_cache(maxsize=1 << 12)
def lookup(name: str) -> Tool | None:
    """The record of a program by its base name (`/usr/bin/git` is `git`), if aionis knows it."""
    name = base(name)
    found = BY_NAME.get(name)
    if found is None:
        found = next((t for t in _PREFIXED if name.startswith(t.prefix)), None)
    return found
