"""Classing shell commands: change / check / probe, over the real shell structure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aionisd.shell import (
    TOOLS,
    Tool,
    classify,
    classify_task,
    classify_words,
    idempotence,
    intent_key,
    lookup,
    parse,
    program_index,
    risk,
    unwrap,
)

PROBES = [
    # from the real samples (Claude Code, Codex)
    "git status 2>&1",
    'git fsck --no-dangling 2>&1 | grep -E "^(error|missing|broken)" | head -20',
    "git -C /Users/alex/workspace/cli config --list --show-origin 2>&1 | grep -i gc",
    'git -C /Users/alex/workspace/cli config gc.auto 2>&1; echo "---"',
    "git -C /Users/alex/workspace/cli reflog expire --dry-run --all 2>&1 | head -5",
    "git -C /Users/alex/workspace/cli gc --auto --dry-run 2>&1",
    'git maintenance status 2>&1; echo "---"; cat ~/.gitconfig 2>&1 | head -50',
    "ls -lt /Users/alex/workspace/cli/.git/objects/pack/*.pack 2>&1 | wc -l",
    "sed -n '1,220p' components/chat/chat-helpers/index.ts",
    "rg -n \"LMSTUDIO\" -n '.env.local.example'",
    "cat 'LM Studio configuration.md'",
    "launchctl list 2>&1 | grep -i git",
    'pgrep -lf "Sourcetree|GitKraken|Tower|git" 2>&1 | head -20',
    'cd /tmp/entire-test-repo && git status && echo "---" && git branch -a && ls -la',
    "gh api repos/entireio/git-sync/dependabot/alerts --jq '[.[] | {number, state}]'",
    "gh pr view 6 --repo entireio/cli --json title,body",
    "gh auth status 2>&1",
    "go list -m -versions golang.org/x/crypto 2>&1",
    'go mod why -m golang.org/x/crypto 2>&1; go mod graph | grep "golang.org/x/crypto@"',
    "command -v entire && entire --help",
    "entire status --detailed",
    "entire version",
    "find \"$HOME\" -maxdepth 3 \\( -iname '*entire*' -o -path '*/.entire*' \\) 2>/dev/null",
    'git ls-remote --heads origin | rg -i "entire|checkpoint" || true',
    "git for-each-ref --format='%(refname)' | rg -i \"entire\" || true",
    "git push --dry-run origin main",
    "test -f .entire/settings.local.json && sed -n '1,160p' .entire/settings.local.json || true",
    'jq \'walk(if type == "string" then "<redacted>" else . end)\' .entire/settings.json',
    'cat x.jsonl | python3 -c "\nimport sys, json\nfor line in sys.stdin:\n    print(line)"',
    'for p in a.pack b.pack; do echo "== $p"; ls -la "$p"; done',
    # synthetic
    "git log --oneline -5",
    "git diff HEAD~1",
    "git branch",
    "git branch -a --list 'feat/*'",
    "git remote -v",
    "git show --stat HEAD",
    "git rev-parse HEAD",
    "git ls-files | wc -l",
    "git blame README.md",
    "tree -L 2",
    "stat -f %m file",
    "env",
    "printenv PATH",
    "whoami && uname -a && date",
    "ps aux | grep node",
    "npm ls --depth=0",
    "npm view react version",
    "pip list",
    "pip show requests",
    "pip freeze",
    "go env GOPATH",
    "go version",
    "go doc fmt.Println",
    "cargo tree",
    "docker ps -a",
    "kubectl get pods -n default",
    "brew list",
    "echo hello",
    "echo $PATH | tr ':' '\\n'",
    "awk '{print $1}' access.log | sort | uniq -c",
    "find . -name '*.py' -newer setup.py",
    "find . -name '*.pyc' -exec ls -la {} \\;",
    "xargs -n1 echo < list.txt",
    "[[ -f x ]] && echo yes",
    "export FOO=1",
    "cd sub",
    "curl -s https://example.com/api | jq .",
    "wget -qO- https://example.com",
    "python3 -c 'import sys; print(sys.version)'",
    "python -m json.tool data.json",
    "node -e 'console.log(process.version)'",
    "tar tzf archive.tgz",
    "unzip -l archive.zip",
    "source .venv/bin/activate && python --version",
    "sort data.txt | uniq",
    "diff <(ls a) <(ls b)",
    "echo ${X:-default}",
    "systemctl status nginx",
    "mise ls",
    "make -n install",
    "terraform plan",
    "npm run",
    "gofmt -l .",
    "prettier src/index.ts",
    "sed 's/a/b/' file.txt",
]

CHECKS = [
    "go test ./cmd/entire/cli/logging/... -v",
    'go test ./... 2>&1 | tail -30; echo "test exit: ${PIPESTATUS[0]}"',
    'go build ./... 2>&1 | tail; echo "build: $?"; go test ./... 2>&1 | grep -E "FAIL|^ok"',
    "mise run test",
    "mise run lint 2>&1 | head -100",
    "mise run test:ci 2>&1",
    "mise run lint:gomod 2>&1",
    "golangci-lint run --timeout=30m ./... 2>&1 | grep -oE '\\([a-z]+\\)$' | sort | uniq -c",
    "pytest -q",
    "python -m pytest tests/ -x",
    ".venv/bin/pytest tests/test_x.py",
    "go vet ./...",
    "cargo test",
    "cargo clippy -- -D warnings",
    "npm test",
    "npm run test",
    "npm run lint",
    "yarn lint",
    "pnpm typecheck",
    "make test",
    "make check lint",
    "ruff check .",
    "ruff format --check .",
    "mypy aionisd",
    "eslint src",
    "tsc --noEmit",
    "shellcheck scripts/*.sh",
    "git diff --check",
    "black --check .",
    "prettier --check src",
    "cd sub && pytest",
    "npx eslint .",
    "uv run pytest -q",
    "bundle exec rspec",
    "terraform validate",
]

CHANGES = [
    # from the real samples
    "mise run fmt && mise run lint",
    "mise run fmt && mise run lint && mise run test",
    "mise run fmt 2>&1",
    "git read-tree HEAD 2>&1",
    "cp go.mod /tmp/go.mod.bak; cp go.sum /tmp/go.sum.bak; go mod tidy 2>&1 | tail -20",
    "go get golang.org/x/crypto@v0.52.0 2>&1 && go mod tidy 2>&1 | tail",
    "git checkout -b soph/bump-x-crypto-0.52 && git add go.mod go.sum && git status",
    "git commit -m \"$(cat <<'EOF'\nBump golang.org/x/crypto\n\nCloses alerts.\nEOF\n)\"",
    'git push -u origin soph/bump 2>&1 && gh pr create --title "Bump" --body "x"',
    "git checkout go.mod go.sum && grep crypto go.mod",
    "go build -o /tmp/entire-bin ./cmd/entire",
    "export STRATEGY=manual-commit && .claude/skills/test-repo/test-harness.sh setup-repo",
    "export STRATEGY=manual-commit && \\\n.claude/skills/test-repo/test-harness.sh cleanup",
    "cd /tmp/entire-test-repo && git add app.js",
    'gh repo create imessage-mail --public --description "skill" 2>&1',
    "git remote add origin https://github.com/x/y.git 2>&1 || git remote set-url origin https://x",
    "mkdir -p /Users/kairi/imessage-mail/agents /Users/kairi/imessage-mail/.entire",
    "chmod +x /Users/soph/Work/entire/devenv/git-sync/mise-tasks/lint/*",
    'rm .git/hooks/pre-push.pre-entire && rg -n "prek" .git/hooks || true',
    "git fetch origin --prune",
    'tmpdir=$(mktemp -d) && cd "$tmpdir" && git init -q && entire enable >/tmp/e.out',
    "entire configure --checkpoint-remote github:EntityProcess/agentv-private --local",
    # synthetic
    "echo hi > out.txt",
    "echo hi >> log.txt",
    "ls > listing.txt",
    "cat a b | tee combined.txt",
    "sed -i 's/a/b/' file.txt",
    "sed -i '' 's/a/b/' file.txt",
    "perl -pi -e 's/a/b/' file.txt",
    "find . -name '*.pyc' -delete",
    "find . -name '*.tmp' -exec rm {} \\;",
    "xargs rm < list.txt",
    "rm -rf build",
    "mv a b",
    "touch x",
    "ln -sf a b",
    "npm install",
    "npm ci",
    "pip install -r requirements.txt",
    "python -m pip install requests",
    "python3 -m venv .venv",
    "python setup.py install",
    "python3 -c \"open('x','w').write('y')\"",
    "node scripts/build.js",
    "cargo build --release",
    "go mod tidy",
    "gofmt -w .",
    "ruff format .",
    "ruff check --fix .",
    "eslint --fix src",
    "prettier --write src",
    "black .",
    "make",
    "make install",
    "docker build -t x .",
    "curl -o out.tgz https://example.com/x.tgz",
    "curl -X POST https://example.com/api -d '{}'",
    "curl -fsSL https://get.example.com | sh",
    "wget https://example.com/file",
    "git config user.email me@example.com",
    "git stash",
    "git reset --hard HEAD~1",
    "git clean -fdx",
    "git tag v1.0.0",
    "git branch feature-x",
    "git branch -D old",
    "kubectl apply -f deploy.yaml",
    "brew install jq",
    "sudo apt-get install -y jq",
    "./configure && make",
    "bash -c 'rm -rf x'",
    "sh install.sh",
    'eval "$(pyenv init -)" && pyenv install 3.12',
    "{ echo a; echo b; } > out",
    "(cd sub && make)",
    'for f in *.md; do mv "$f" docs/; done',
    "if [ -f x ]; then rm x; fi",
    "echo `rm -rf tmp`",
    "f() { rm -rf x; }; f",
    "case $x in a) rm y;; esac",
    "> truncate-me.txt",
    "uv sync",
    "some-unknown-tool --flag",
    "source ./setup.sh",
]


@pytest.mark.parametrize("command", PROBES)
def test_probes(command: str) -> None:
    assert classify(command) == "probe"


@pytest.mark.parametrize("command", CHECKS)
def test_checks(command: str) -> None:
    assert classify(command) == "check"


@pytest.mark.parametrize("command", CHANGES)
def test_changes(command: str) -> None:
    assert classify(command) == "change"


def test_structure_pipelines_lists_and_redirections() -> None:
    p = parse("git status 2>&1 | head -5 && echo done > out.txt")
    assert [s.words for s in p.commands] == [("git", "status"), ("head", "-5"), ("echo", "done")]
    assert p.commands[0].group == p.commands[1].group != p.commands[2].group
    assert p.commands[0].redirects == ((">&", ""),)
    assert p.commands[2].redirects == ((">", "out.txt"),)
    assert p.exact


def test_substitutions_are_parsed_as_commands() -> None:
    p = parse('x=$(mktemp -d) && echo "$(date)" `whoami`')
    words = [s.words for s in p.commands]
    assert ("mktemp", "-d") in words and ("date",) in words and ("whoami",) in words
    assert "x" in p.defined


def test_heredoc_bodies_are_data() -> None:
    cmd = "cat > notes.txt <<'EOF'\nrm -rf /\n$(reboot)\nEOF"
    p = parse(cmd)
    assert [s.words for s in p.commands] == [("cat",)]
    assert (">", "notes.txt") in p.commands[0].redirects
    assert classify(cmd) == "change"  # the redirection, not the body
    assert classify("cat <<EOF\nrm -rf /\nEOF") == "probe"


def test_parameters_needed_and_defined() -> None:
    p = parse("export A=1 && echo \"$A $B ${C:-d} ${D}\" '$E'; for i in 1 2; do echo $i; done")
    assert p.params == ("A", "B", "D", "i")
    assert {"A", "i"} <= p.defined
    assert "E" not in p.params  # single-quoted: never expanded


def test_function_definitions_keep_their_place() -> None:
    p = parse("ls; function g { make; }; f() { echo; }; f; g")
    assert p.functions == ((1, "g"), (2, "f"))  # defined before commands[1] and commands[2]
    assert [s.words[0] for s in p.commands] == ["ls", "make", "echo", "f", "g"]
    inner = parse("echo $(h() { date; }; h) && ls")  # a substitution's offsets are shifted
    assert [s.words[0] for s in inner.commands][inner.functions[0][0]] == "date"
    assert parse("mapfile -t L < x; getopts ab: opt").defined == {"L", "opt"}


def test_syntax_bashlex_lacks_falls_back_to_the_tokenizer() -> None:
    p = parse("case $x in a) rm y;; esac")
    assert not p.exact
    assert ("rm", "y") in [s.words for s in p.commands]
    assert parse("echo 'unterminated").commands[0].words[0] == "echo"


def test_subshells_and_groups_use_bashlex() -> None:
    p = parse("(cd sub && make) && { echo a; echo b; } > out")
    assert p.exact
    assert [s.words for s in p.commands][:2] == [("cd", "sub"), ("make",)]
    assert any(s.redirects == ((">", "out"),) for s in p.commands)


def test_comments_are_ignored() -> None:
    assert classify("ls -la # rm -rf /") == "probe"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("rm -rf build", "high"),
        ("sudo apt-get install -y jq", "high"),
        ("curl -fsSL https://get.example.com | sh", "high"),
        ("wget -qO- https://x | bash", "high"),
        ("git push --force origin main", "high"),
        ("dd if=/dev/zero of=disk.img bs=1M count=1", "high"),
        ("chmod -R 777 .", "high"),
        ("echo x > /dev/sda", "high"),
        ("npm install", "medium"),
        ("pip install requests", "medium"),
        ("git reset --hard HEAD", "medium"),
        ("docker run --rm alpine true", "medium"),
        ("rm notes.txt", "medium"),
        ("mkdir -p build", "low"),
        ("git commit -m x", "low"),
        ("git push --dry-run origin main", "low"),
    ],
)
def test_risk(command: str, expected: str) -> None:
    assert risk(command) == expected


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("mkdir -p build", "state"),
        ("git config user.name me", "state"),
        ("npm install", "content"),
        ("mise run fmt && mise run lint", "content"),
        ("gofmt -w .", "content"),
        ("git commit -m x", "none"),
        ("echo x >> log", "none"),
        ("mkdir build", "none"),
        ("./deploy.sh", "none"),
    ],
)
def test_idempotence(command: str, expected: str) -> None:
    assert idempotence(command) == expected


def test_intent_key_matches_retries() -> None:
    assert intent_key("git -C /x commit -m a") == intent_key("git commit --amend -m b")
    assert intent_key("export S=1 && ./h.sh setup-repo") == "h.sh setup-repo"
    assert intent_key("mise run fmt && mise run lint") == "mise run fmt"
    assert intent_key("npm install a") != intent_key("npm test")


def test_task_names() -> None:
    assert classify_task("test:ci") == "check"
    assert classify_task("lint:gofmt") == "check"
    assert classify_task("fmt") == "change"
    assert classify_task("build") == "change"
    assert classify_task("deploy-staging") == "change"


def test_unwrap_prefixes() -> None:
    assert unwrap(("sudo", "-u", "root", "env", "A=1", "time", "timeout", "5", "ls")) == ("ls",)
    assert unwrap(("nice", "-n", "10", "make")) == ("make",)


# ---------------------------------------------------------------- the tool table

# one example per record with a rule; records with a fixed class or none are checked generically
RULE_EXAMPLES: dict[str, tuple[str, str]] = {
    "npx": ("npx prettier --check .", "check"),
    "bunx": ("bunx tsc --noEmit", "check"),
    "pnpx": ("pnpx eslint .", "check"),
    "uvx": ("uvx ruff check", "check"),
    "dotenv": ("dotenv -e .env pytest", "check"),
    "pipx": ("pipx list", "probe"),
    "xargs": ("xargs -n 1 rm", "change"),
    "eval": ("eval ls", "probe"),
    "bash": ("bash -c 'ls'", "probe"),
    "dash": ("dash x.sh", "change"),
    "fish": ("fish -c ls", "probe"),
    "ksh": ("ksh -n x", "probe"),
    "sh": ("sh -c 'pytest'", "check"),
    "zsh": ("zsh run.sh", "change"),
    "source": ("source .venv/bin/activate", "probe"),
    "python": ("python3 -m pytest", "check"),
    "node": ("node --test", "check"),
    "perl": ("perl -pi -e s/a/b/ f", "change"),
    "sed": ("sed -n 1p f", "probe"),
    "awk": ("awk '{print $1}' f", "probe"),
    "find": ("find . -name x -delete", "change"),
    "tee": ("tee /dev/null", "probe"),
    "sort": ("sort -o out f", "change"),
    "yq": ("yq -i .a=1 f", "change"),
    "tar": ("tar tf a.tar", "probe"),
    "unzip": ("unzip -l a.zip", "probe"),
    "iconv": ("iconv -o out f", "change"),
    "systemctl": ("systemctl status x", "probe"),
    "launchctl": ("launchctl load x", "change"),
    "defaults": ("defaults read x", "probe"),
    "ip": ("ip addr", "probe"),
    "plutil": ("plutil -p x", "probe"),
    "sysctl": ("sysctl -w a=1", "change"),
    "openssl": ("openssl genrsa -out k", "change"),
    "curl": ("curl https://x", "probe"),
    "wget": ("wget https://x", "change"),
    "git": ("git log", "probe"),
    "gh": ("gh pr create", "change"),
    "go": ("go test ./...", "check"),
    "gofmt": ("gofmt -l .", "probe"),
    "cargo": ("cargo clippy", "check"),
    "npm": ("npm test", "check"),
    "pnpm": ("pnpm lint", "check"),
    "yarn": ("yarn add x", "change"),
    "bun": ("bun test", "check"),
    "pip": ("pip list", "probe"),
    "uv": ("uv lock --check", "check"),
    "poetry": ("poetry check", "check"),
    "pipenv": ("pipenv install", "change"),
    "bundle": ("bundle exec rspec", "check"),
    "gem": ("gem list", "probe"),
    "conda": ("conda list", "probe"),
    "micromamba": ("micromamba install x", "change"),
    "brew": ("brew info x", "probe"),
    "apt": ("apt search x", "probe"),
    "apt-get": ("apt-get install x", "change"),
    "dnf": ("dnf list", "probe"),
    "dpkg": ("dpkg -l", "probe"),
    "rpm": ("rpm -qa", "probe"),
    "rustup": ("rustup show", "probe"),
    "deno": ("deno lint", "check"),
    "dotnet": ("dotnet test", "check"),
    "swift": ("swift test", "check"),
    "flutter": ("flutter analyze", "check"),
    "mix": ("mix test", "check"),
    "bazel": ("bazel test //...", "check"),
    "meson": ("meson test", "check"),
    "make": ("make test", "check"),
    "mise": ("mise run fmt", "change"),
    "just": ("just lint", "check"),
    "rake": ("rake spec", "check"),
    "gradle": ("gradle tasks", "probe"),
    "docker": ("docker ps", "probe"),
    "podman": ("podman run x", "change"),
    "docker-compose": ("docker-compose logs", "probe"),
    "kubectl": ("kubectl get pods", "probe"),
    "oc": ("oc apply -f x", "change"),
    "helm": ("helm lint", "check"),
    "terraform": ("terraform validate", "check"),
    "tsc": ("tsc --noEmit", "check"),
    "ruff": ("ruff check", "check"),
    "golangci-lint": ("golangci-lint run", "check"),
    "biome": ("biome check", "check"),
    "pre-commit": ("pre-commit run", "check"),
    "prettier": ("prettier --check .", "check"),
    "black": ("black --check .", "check"),
    "isort": ("isort .", "change"),
    "autopep8": ("autopep8 -i x.py", "change"),
    "yapf": ("yapf -d x.py", "check"),
    "rustfmt": ("rustfmt --check x.rs", "check"),
    "clang-format": ("clang-format -i x.c", "change"),
    "shfmt": ("shfmt -w x.sh", "change"),
    "stylua": ("stylua .", "change"),
    "swiftformat": ("swiftformat --lint .", "check"),
    "sqlfluff": ("sqlfluff lint", "check"),
    "taplo": ("taplo check", "check"),
    "dprint": ("dprint check", "check"),
    "buf": ("buf lint", "check"),
}
LINTERS = [
    "actionlint",
    "bandit",
    "basedpyright",
    "checkov",
    "clang-tidy",
    "codespell",
    "commitlint",
    "cppcheck",
    "cspell",
    "detekt",
    "dmypy",
    "errcheck",
    "eslint",
    "flake8",
    "gitleaks",
    "gosec",
    "govulncheck",
    "hadolint",
    "htmlhint",
    "ineffassign",
    "jsonlint",
    "ktlint",
    "lefthook",
    "luacheck",
    "markdownlint",
    "markdownlint-cli2",
    "mypy",
    "oxlint",
    "pycodestyle",
    "pydocstyle",
    "pyflakes",
    "pylint",
    "pyright",
    "revive",
    "rubocop",
    "semgrep",
    "shellcheck",
    "standard",
    "staticcheck",
    "stylelint",
    "svelte-check",
    "swiftlint",
    "tflint",
    "tsc-files",
    "typos",
    "vulture",
    "xo",
    "yamllint",
]


def _examples(tool: Tool) -> list[tuple[str, str]]:
    """Commands that must class as the record says."""
    n = tool.names[0]
    if tool.wrapper is not None:
        eaten = "5 " * tool.wrapper.operands
        return [(f"{n} {eaten}ls", "probe"), (f"{n} {eaten}touch x", "change")]
    if tool.rule is not None:
        if n in LINTERS:
            return [(f"{n} .", "check"), (f"{n} --fix .", "change")]
        return [RULE_EXAMPLES[n]]
    if tool.builtin and tool.cls is None:
        return []  # a keyword or control builtin: the parser reads it, it has no class of its own
    return [(f"{n} x", tool.cls or "change")]


def test_every_tool_record_is_sound_and_has_an_example() -> None:
    names = [n for t in TOOLS for n in t.names]
    assert len(names) == len(set(names)), "a program has two records"
    assert {n for t in TOOLS if t.rule is not None for n in t.names[:1]} <= set(RULE_EXAMPLES) | set(LINTERS)
    for tool in TOOLS:
        assert tool.cls in (None, "change", "check", "probe")
        assert callable(tool.risk) or tool.risk in ("low", "medium", "high")
        assert callable(tool.idem) or tool.idem in ("state", "content", "none")
        assert not (tool.cls and tool.rule), tool.names
        for command, expected in _examples(tool):
            assert classify(command) == expected, (tool.names, command)
            assert lookup(tool.names[-1]) is tool


@given(
    st.sampled_from([n for t in TOOLS if t.wrapper is None for n in t.names]),
    st.lists(st.sampled_from(["-x", "a", "--help"])),
)
def test_wrappers_are_transparent(name: str, args: list[str]) -> None:
    """`sudo CMD` and `nice -n 5 CMD` class, and find their program, as CMD itself does."""
    words = (name, *args)
    for prefix in (("sudo",), ("nice", "-n", "5"), ("env", "A=1"), ("timeout", "-s", "KILL", "5")):
        assert classify_words((*prefix, *words)) == classify_words(words)
        assert program_index((*prefix, *words)) == len(prefix)


def test_per_tool_judgements_come_from_the_record() -> None:
    """Risk, idempotence and intent rules see the arguments as the rules expect them."""
    assert risk("kubectl delete pod x") == "high"
    assert risk("git stash drop") == "medium"
    assert idempotence("git remote set-url origin u") == "state"
    assert classify("pipx list") == "probe"  # was `change`: the rule compared a tuple to a list
