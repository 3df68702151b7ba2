"""Per-tool rules: pure functions of a command's arguments that decide what the table cannot
say as a constant (its class, risk, idempotence, intent, whether its effects are known)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Sequence

from aionisd.shell.parse import _S, wordset
from aionisd.shell.record import CHANGE, CHECK, PROBE, Cls, Idem, Risk, Rule, Run, Verdict

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


PROBE_BINS = wordset(
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
TEST_BINS = wordset("""pytest py.test tox nox jest vitest mocha ava karma phpunit pest rspec ctest""")
LINT_BINS = wordset(
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

_CHECK_TASK_WORDS = wordset(
    """test tests lint linter lints check checks vet typecheck types type-check verify ci audit
    validate spec specs e2e unit integration coverage cov tsc mypy clippy"""
)
_CHANGE_TASK_WORDS = wordset(
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


def generic(args: Sequence[str]) -> Cls | None:
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
    g = generic(args)
    if g:
        return g
    if args and args[0] in ("status", "list", "ls", "show", "view", "info"):
        return PROBE
    return CHANGE


def linter(args: Sequence[str]) -> Cls:
    return CHANGE if _flags(args) & _FIX_FLAGS else CHECK


def sed(args: Sequence[str]) -> Cls:
    if any(a.startswith("--in-place") for a in args) or _short(args, "i"):
        return CHANGE
    if any(a.startswith("-i") and not a.startswith("--") for a in args):
        return CHANGE
    return PROBE


def awk(args: Sequence[str]) -> Cls:
    if "inplace" in args or any(a.startswith("--inplace") for a in args):
        return CHANGE
    script = " ".join(a for a in args if not a.startswith("-"))
    if "system(" in script or re.search(r"print[f]?[^;}]*?(>|\|\s*\")", script):
        return CHANGE
    return PROBE


def find(args: Sequence[str]) -> Verdict:
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


def xargs(args: Sequence[str]) -> Verdict:
    rest = skip_options(args, XARGS_OPTIONS)
    return _run(rest)


def skip_options(args: Sequence[str], takes_value: frozenset[str]) -> list[str]:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] == "--":
            return list(args[i + 1 :])
        i += 2 if args[i] in takes_value else 1
    return list(args[i:])


def tee(args: Sequence[str]) -> Cls:
    files = [a for a in args if not a.startswith("-")]
    return CHANGE if any(not f.startswith(QUIET_TARGETS) for f in files) else PROBE


def sort(args: Sequence[str]) -> Cls:
    return CHANGE if "-o" in args or any(a.startswith("--output") for a in args) else PROBE


def yq(args: Sequence[str]) -> Cls:
    return CHANGE if _short(args, "i") or "--inplace" in args else PROBE


def shell(args: Sequence[str]) -> Verdict:
    for i, a in enumerate(args):
        if a.startswith("-") and not a.startswith("--") and "c" in a[1:]:
            return Run(text=args[i + 1]) if i + 1 < len(args) else PROBE
        if a == "-n":
            return PROBE
        if not a.startswith("-"):
            return CHANGE
    return generic(args) or CHANGE


def source(args: Sequence[str]) -> Cls:
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


def python(args: Sequence[str]) -> Verdict:
    g = generic(args)
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
    if mod in LINT_BINS:
        return linter(rest)
    if mod in ("json.tool", "site", "sysconfig", "platform", "this", "pydoc", "timeit"):
        return PROBE
    # Any other module runs as its own program would (`python -m pip install`): the engine
    # classes it by the table, as it does `xargs CMD`.
    return _run([mod, *rest]) if mod else CHANGE


_NODE_WRITES = re.compile(
    r"writeFile|appendFile|unlink|rmdir|\brm\b|mkdir|rename|copyFile|child_process|exec|spawn|"
    r"fetch\(|https?\b|\bnet\b|createWriteStream|symlink|chmod|truncate|fs\.promises"
)


def node(args: Sequence[str]) -> Cls:
    g = generic(args)
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


def curl(args: Sequence[str]) -> Cls:
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


def wget(args: Sequence[str]) -> Cls:
    if "--spider" in args:
        return PROBE
    for i, a in enumerate(args):
        if a in ("-O", "--output-document") and i + 1 < len(args) and args[i + 1] == "-":
            return PROBE
        if a in ("-O-", "-qO-", "--output-document=-") or (a.startswith("-") and a.endswith("O-")):
            return PROBE
    return generic(args) or CHANGE


# git ------------------------------------------------------------------

_GIT_GLOBAL_VALUE = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path"})
_GIT_READ = wordset(
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


def git(args: Sequence[str]) -> Cls:
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


def gh(args: Sequence[str]) -> Cls:
    g = generic(args)
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


def go(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos:
        return generic(args) or PROBE
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


def gofmt(args: Sequence[str]) -> Cls:
    return CHANGE if _short(args, "w") or "-w" in args else PROBE


def cargo(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos:
        return generic(args) or PROBE
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


_NPM_PROBE = wordset(
    """ls list la ll view v info show outdated search explain why doctor help root bin prefix
    fund query pkg-get config-get whoami ping"""
)
_NPM_CHECK = frozenset({"test", "t", "tst", "lint"})
_NPM_VALUE = frozenset({"--prefix", "-w", "--workspace", "-C", "--dir", "--filter", "--cwd"})


def npm_like(args: Sequence[str], *, implicit_run: bool) -> Verdict:
    g = generic(args)
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


_PM_COMMANDS = wordset(
    """install i ci add remove rm uninstall un update up upgrade publish link unlink init create
    import dedupe prune rebuild set cache patch pack global workspace workspaces why bin dlx exec
    node"""
)


def bun(args: Sequence[str]) -> Verdict:
    pos = _positionals(args)
    if pos and pos[0] == "test":
        return CHECK
    if pos and pos[0] == "x":
        return _run(args[args.index("x") + 1 :])
    return npm_like(args, implicit_run=True)


def pip(args: Sequence[str]) -> Cls:
    g = generic(args)
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


def uv(args: Sequence[str]) -> Verdict:
    g = generic(args)
    if g:
        return g
    pos = _positionals(args)
    if not pos:
        return PROBE
    sub = pos[0]
    rest = args[args.index(sub) + 1 :]
    if sub == "pip":
        return pip(rest)
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


def poetry(args: Sequence[str]) -> Verdict:
    g = generic(args)
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


def bundle(args: Sequence[str]) -> Verdict:
    pos = _positionals(args)
    if pos and pos[0] == "exec":
        return _run(args[args.index("exec") + 1 :])
    if pos and pos[0] in ("list", "show", "info", "outdated", "check", "config", "platform"):
        return PROBE
    return generic(args) or CHANGE


def make(args: Sequence[str]) -> Cls:
    if _S("-n --dry-run --just-print --recon -q --question -p --print-data-base") & set(args):
        return PROBE
    g = generic(args)
    if g:
        return g
    targets = [a for a in _positionals(args, frozenset({"-C", "-f", "--file", "-j", "-l"})) if "=" not in a]
    return _tasks(targets)


def mise(args: Sequence[str]) -> Verdict:
    g = generic(args)
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


def just_like(args: Sequence[str]) -> Cls:
    if _S("-l --list --summary --show -s --dry-run -n --dump --evaluate --variables --list-all -a") & set(
        args
    ):
        return PROBE
    g = generic(args)
    if g:
        return g
    return _tasks(
        [
            a
            for a in _positionals(args, frozenset({"-f", "--justfile", "-d", "-t", "--taskfile", "--dir"}))
            if "=" not in a
        ]
    )


def gradle_like(args: Sequence[str]) -> Cls:
    g = generic(args)
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


def docker(args: Sequence[str]) -> Cls:
    g = generic(args)
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


def kubectl(args: Sequence[str]) -> Cls:
    g = generic(args)
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


def helm(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] == "lint":
        return CHECK
    if pos and pos[0] in _S("list ls status get show template search history version env verify"):
        return PROBE
    if len(pos) > 1 and pos[0] in ("repo", "dependency", "plugin") and pos[1] in ("list", "ls"):
        return PROBE
    return generic(args) or CHANGE


def terraform(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos:
        return generic(args) or PROBE
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


def brew(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos:
        return generic(args) or PROBE
    if pos[0] in _S(
        """list ls info search config doctor deps uses leaves outdated desc cat log home --prefix
        --cellar shellenv commands services"""
    ) and not (pos[0] == "services" and len(pos) > 1 and pos[1] not in ("list", "info")):
        return PROBE
    if "--prefix" in args or "--cellar" in args or "--repository" in args:
        return PROBE
    return generic(args) or CHANGE


def apt(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in _S("list search show policy depends rdepends showsrc madison changelog"):
        return PROBE
    return generic(args) or CHANGE


def dnf(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in _S("list info search repolist provides check-update repoquery deplist history"):
        return PROBE
    return generic(args) or CHANGE


def dpkg(args: Sequence[str]) -> Cls:
    if _flags(args) & _S(
        """-l -L -s -S -p --list --status --listfiles --search --print-architecture --get-
        selections -c --contents -I --info --compare-versions"""
    ):
        return PROBE
    return CHANGE


def rpm(args: Sequence[str]) -> Cls:
    return PROBE if any(a.startswith("-q") or a == "--query" for a in args) else CHANGE


def systemctl(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos or pos[0] in _S(
        """status show is-active is-enabled is-failed list-units list-unit-files list-timers list-
        sockets cat list-dependencies get-default help"""
    ):
        return PROBE
    return generic(args) or CHANGE


def launchctl(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in _S(
        """list print print-disabled blame procinfo version print-cache dumpstate managerpid
        manageruid getenv"""
    ):
        return PROBE
    return CHANGE


def defaults(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in ("read", "read-type", "domains", "find", "help"):
        return PROBE
    return CHANGE


def tar(args: Sequence[str]) -> Cls:
    first = args[0] if args else ""
    if first and not first.startswith("-") and "t" in first and "x" not in first and "c" not in first:
        return PROBE
    if "--list" in args or (_short(args, "t") and not (_short(args, "x") or _short(args, "c"))):
        return PROBE
    return CHANGE


def unzip(args: Sequence[str]) -> Cls:
    return PROBE if {"-l", "-Z", "-t", "-v", "-p"} & set(args) or _short(args, "l") else CHANGE


def openssl(args: Sequence[str]) -> Cls:
    return CHANGE if {"-out", "-keyout"} & set(args) or (args and args[0] == "genrsa") else PROBE


def perl(args: Sequence[str]) -> Cls:
    if any(a.startswith("-i") or (a.startswith("-") and "i" in a[1:] and a[1:].isalpha()) for a in args):
        return CHANGE
    if any(a.startswith("-") and ("n" in a[1:] or "p" in a[1:]) and a[1:].isalpha() for a in args):
        return PROBE
    return generic(args) or CHANGE


def ip(args: Sequence[str]) -> Cls:
    return CHANGE if {"add", "del", "delete", "set", "flush", "change", "replace"} & set(args) else PROBE


def plutil(args: Sequence[str]) -> Cls:
    return PROBE if {"-p", "-lint", "-help", "-extract"} & set(args) and "-o" not in args else CHANGE


def sysctl(args: Sequence[str]) -> Cls:
    return CHANGE if "-w" in args or any("=" in a for a in args) else PROBE


def tsc(args: Sequence[str]) -> Cls:
    if "--noEmit" in args or "--noemit" in args:
        return CHECK
    return generic(args) or CHANGE


def ruff(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    g = generic(args)
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


def golangci(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    g = generic(args)
    if g:
        return g
    if pos and pos[0] in ("version", "help", "linters", "completion"):
        return PROBE
    if pos and pos[0] == "fmt":
        return CHECK if {"-d", "--diff"} & set(args) else CHANGE
    return CHANGE if "--fix" in args else CHECK


def check_or_write(
    check: frozenset[str], write: frozenset[str], default: Cls
) -> Callable[[Sequence[str]], Cls]:
    def rule(args: Sequence[str]) -> Cls:
        flags = _flags(args)
        if flags & write:
            return CHANGE
        if flags & check:
            return CHECK
        return generic(args) or default

    return rule


def biome(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if {"--write", "--apply", "--apply-unsafe", "--fix"} & _flags(args):
        return CHANGE
    if pos and pos[0] in ("check", "lint", "ci"):
        return CHECK
    if pos and pos[0] == "format":
        return PROBE
    return generic(args) or CHANGE


def deno(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos:
        return generic(args) or CHANGE
    if pos[0] in ("test", "lint", "check", "bench"):
        return CHECK
    if pos[0] == "fmt":
        return CHECK if "--check" in args else CHANGE
    if pos[0] in ("info", "doc", "types", "help"):
        return PROBE
    if pos[0] == "task":
        return _tasks(pos[1:2])
    return CHANGE


def dotnet(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] == "test":
        return CHECK
    if pos and pos[0] == "format":
        return CHECK if "--verify-no-changes" in args else CHANGE
    if (pos and pos[0] in ("list", "--info", "help", "sdk")) or "--info" in args:
        return PROBE
    return generic(args) or CHANGE


def swift(args: Sequence[str]) -> Cls:
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
    return generic(args) or CHANGE


def flutter(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in ("test", "analyze"):
        return CHECK
    if pos and pos[0] == "format":
        return CHECK if "--set-exit-if-changed" in args else CHANGE
    if pos and pos[0] in ("doctor", "devices", "--version", "info"):
        return PROBE
    return generic(args) or CHANGE


def mix(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in ("test", "credo", "dialyzer"):
        return CHECK
    if pos and pos[0] == "format":
        return CHECK if "--check-formatted" in args else CHANGE
    return generic(args) or CHANGE


def bazel(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in ("test", "coverage"):
        return CHECK
    if pos and pos[0] in ("query", "cquery", "aquery", "info", "version", "help"):
        return PROBE
    return CHANGE


def pre_commit(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in ("install", "uninstall", "autoupdate", "clean", "gc", "install-hooks"):
        return CHANGE
    return CHECK if (pos and pos[0] in ("run",)) or not pos else generic(args) or CHANGE


def rustup(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos or pos[0] in ("show", "which", "--version", "help", "doc"):
        return PROBE
    if len(pos) > 1 and pos[0] in ("toolchain", "target", "component") and pos[1] == "list":
        return PROBE
    return generic(args) or CHANGE


def gem(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in _S(
        "list search info env spec specification which contents query help outdated dependency"
    ):
        return PROBE
    return generic(args) or CHANGE


def conda(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in ("list", "info", "search", "config") and "--set" not in args and "--add" not in args:
        return PROBE
    if len(pos) > 1 and pos[0] == "env" and pos[1] in ("list", "export"):
        return PROBE
    return generic(args) or CHANGE


def probe_unless(*flags: str) -> Callable[[Sequence[str]], Cls]:
    def rule(args: Sequence[str]) -> Cls:
        return CHANGE if set(flags) & _flags(args) else PROBE

    return rule


def wrapped(takes_value: frozenset[str]) -> Rule:
    """A runner (`npx`, `uvx`): its options, then the command it runs."""

    def rule(args: Sequence[str]) -> Verdict:
        return _run(skip_options(args, takes_value))

    return rule


def pipx(args: Sequence[str]) -> Verdict:
    if list(args[:1]) == ["run"]:
        return _run(skip_options(args[1:], frozenset({"--spec"})))
    return PROBE if list(args[:1]) == ["list"] else CHANGE


# ---------------------------------------------------------------- risk, idempotence, intent, effects

_INSTALL_SUBS = frozenset({"install", "i", "ci", "add", "sync", "get", "upgrade"})
_GIT_KNOWN = wordset(
    """add commit push config remote tag fetch branch read-tree update-index update-ref notes gc
    prune reflog"""
)


def rm_risk(args: Sequence[str]) -> Risk:
    return "high" if _short(args, "r") or _short(args, "R") or "--recursive" in args else "medium"


def recursive_risk(args: Sequence[str]) -> Risk:
    return "high" if _short(args, "R") or "--recursive" in args else "low"


def git_risk(args: Sequence[str]) -> Risk:
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


def git_idem(args: Sequence[str]) -> Idem:
    sub, rest = git_split(args)
    if sub == "config" or (sub == "remote" and rest[:1] == ["set-url"]):
        return "state"
    return "content" if sub in ("add", "fetch") else "none"


def git_intent(args: Sequence[str]) -> str:
    return f"git {git_split(args)[0]}"


def git_known(args: Sequence[str]) -> bool:
    return git_split(args)[0] in _GIT_KNOWN


def kubectl_risk(args: Sequence[str]) -> Risk:
    return "high" if args[:1] == ["delete"] else "medium"


def terraform_risk(args: Sequence[str]) -> Risk:
    return "high" if args[:1] in (["apply"], ["destroy"]) else "low"


def gh_risk(args: Sequence[str]) -> Risk:
    if args[:2] in (["repo", "delete"], ["release", "delete"]):
        return "high"
    return "medium" if gh(args) == CHANGE else "low"


def install_risk(args: Sequence[str]) -> Risk:
    """Installing packages runs code from the network."""
    pos = _positionals(args)
    if pos and (pos[0] in _INSTALL_SUBS or (pos[0] == "pip" and pos[1:2] == ["install"])):
        return "medium"
    return "low"


def pacman_risk(args: Sequence[str]) -> Risk:
    return "medium" if any(a.startswith("-S") for a in args) else install_risk(args)


def parents_idem(args: Sequence[str]) -> Idem:
    return "state" if _short(args, "p") or "--parents" in args else "none"


def force_idem(args: Sequence[str]) -> Idem:
    return "state" if _short(args, "f") or "--force" in args else "none"


def system_install_idem(args: Sequence[str]) -> Idem:
    return "state" if args[:1] == ["install"] else "none"


def pm_idem(args: Sequence[str]) -> Idem:
    return "content" if args[:1] and args[0] in ("install", "i", "ci", "sync", "add") else "none"


def task_idem(args: Sequence[str]) -> Idem:
    """A formatting task gives the same tree whenever the sources are the same."""
    names = [a for a in args if not a.startswith("-") and a not in ("run", "r")]
    if names and set(re.split(r"[:\-_./]+", names[0].lower())) & {"fmt", "format", "tidy"}:
        return "content"
    return "none"


def js_pm_idem(args: Sequence[str]) -> Idem:
    return "content" if "content" in (pm_idem(args), task_idem(args)) else "none"


def fmt_idem(args: Sequence[str]) -> Idem:
    return "content" if args[:1] in (["format"], ["fmt"]) else "none"


def go_idem(args: Sequence[str]) -> Idem:
    if args[:1] in (["get"], ["fmt"], ["generate"]) or args[:2] in (["mod", "tidy"], ["mod", "download"]):
        return "content"
    return "none"


def writes_output(args: Sequence[str]) -> bool:
    """`-o FILE` and friends: the one file it makes is named."""
    return any(a in CREATING_OUTPUT for a in args[:-1])


def go_known(args: Sequence[str]) -> bool:
    return writes_output(args) and _positionals(args)[:1] == ["build"]
