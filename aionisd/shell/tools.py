"""The tool table: everything aionis knows about one program, in one record.

A contributor teaching aionis a new tool adds one `Tool` to `TOOLS` (and an example to
tests/unit/test_shell.py): its class (`change`/`check`/`probe`) or a small rule over its arguments,
its risk and idempotence, what it does to files and the repo, its wrapper options and where it
takes a password. Rules are pure functions of the arguments; a rule that runs another command
(`xargs CMD`, `sh -c TEXT`) returns a `Run` and the engine classes that.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aionisd.shell.parse import _S, wordset
from aionisd.shell.record import CHANGE, CHECK, PROBE, Cls, Run, Tool, Wrapper, password
from aionisd.shell.rules import (
    LINT_BINS,
    PROBE_BINS,
    TEST_BINS,
    apt,
    awk,
    base,
    bazel,
    biome,
    brew,
    bun,
    bundle,
    cargo,
    check_or_write,
    conda,
    curl,
    defaults,
    deno,
    dnf,
    docker,
    dotnet,
    dpkg,
    find,
    flutter,
    fmt_idem,
    force_idem,
    gem,
    generic,
    gh,
    gh_risk,
    git,
    git_idem,
    git_intent,
    git_known,
    git_risk,
    go,
    go_idem,
    go_known,
    gofmt,
    golangci,
    gradle_like,
    helm,
    install_risk,
    ip,
    js_pm_idem,
    just_like,
    kubectl,
    kubectl_risk,
    launchctl,
    linter,
    make,
    mise,
    mix,
    node,
    npm_like,
    openssl,
    pacman_risk,
    parents_idem,
    perl,
    pip,
    pipx,
    plutil,
    pm_idem,
    poetry,
    pre_commit,
    probe_unless,
    python,
    recursive_risk,
    rm_risk,
    rpm,
    ruff,
    rustup,
    sed,
    shell,
    sort,
    source,
    swift,
    sysctl,
    system_install_idem,
    systemctl,
    tar,
    task_idem,
    tee,
    terraform,
    terraform_risk,
    tsc,
    unzip,
    uv,
    wget,
    wrapped,
    writes_output,
    xargs,
    yq,
)

# ---------------------------------------------------------------- the table

_MYSQL = password("MYSQL_PASSWORD", glued="-p", equals="--password")
_MONGO = password("MONGO_PASSWORD", spaced="-p --password")
_LDAP = password("LDAP_PASSWORD", glued="-w", spaced="-w")
_REGISTRY = password("REGISTRY_PASSWORD", glued="-p", spaced="-p --password", subcommand="login")
_DOCKER_PW = password("DOCKER_PASSWORD", glued="-p", spaced="-p --password", subcommand="login")
_CONTAINERS = frozenset({"docker", "podman", "docker-compose", "kubectl", "helm"})
_BUILTIN_WORDS = wordset(
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
    return Tool((name,), rule=check_or_write(wordset(check), wordset(write), default), **fields)


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
    Tool(("npx",), rule=wrapped(_S("-p --package -c --call")), risk="medium"),
    Tool(("bunx",), rule=wrapped(_S("-p --package")), risk="medium"),
    Tool(("pnpx",), rule=wrapped(frozenset()), risk="medium"),
    Tool(("uvx",), rule=wrapped(_S("--from --with --python -p")), risk="medium"),
    Tool(("dotenv",), rule=wrapped(_S("-e -f -v"))),
    Tool(("pipx",), rule=pipx, risk=install_risk),
    Tool(("xargs",), rule=xargs),
    Tool(("eval",), rule=lambda a: Run(text=" ".join(a)), builtin=True),
    # the shell and interpreters
    *_many(_S("sh bash zsh dash ksh fish"), rule=shell, interpreter=True),
    Tool(("source", "."), rule=source, builtin=True),
    Tool(("python", "pypy", "pypy3", "py"), prefix="python", rule=python, interpreter=True),
    Tool(("node",), rule=node, interpreter=True),
    Tool(("perl",), rule=perl, interpreter=True),
    Tool(("ruby",), interpreter=True),
    # files
    Tool(("rm",), risk=rm_risk, known=True),
    Tool(("rmdir",), known=True),
    Tool(("mkdir",), idem=parents_idem, known=True),
    Tool(("ln",), idem=force_idem, known=True),
    Tool(("touch",), idem="state", known=True),
    *_many(_S("chmod chown chgrp"), risk=recursive_risk, idem="state", known=True),
    Tool(("cp",), idem="content", known=True),
    Tool(("mv",), known=True),
    Tool(("install",), known=True),
    Tool(("rsync",), idem="content"),
    *_many(_S("dd shred fdisk parted wipefs shutdown reboot halt"), risk="high"),
    Tool(("mkfs",), prefix="mkfs", cls=CHANGE, risk="high"),
    Tool(("sed", "gsed"), rule=sed),
    Tool(("awk", "gawk", "mawk", "nawk"), rule=awk),
    Tool(("find", "gfind"), rule=find),
    Tool(("tee",), rule=tee, known=True),
    Tool(("sort",), rule=sort),
    Tool(("yq",), rule=yq),
    Tool(("tar",), rule=tar),
    Tool(("unzip",), rule=unzip, password=password("ZIP_PASSWORD", spaced="-P")),
    Tool(("zip",), password=password("ZIP_PASSWORD", spaced="-P --password")),
    Tool(("7z",), password=password("ARCHIVE_PASSWORD", glued="-p")),
    Tool(("iconv",), rule=probe_unless("-o", "--output")),
    Tool(("mktemp",), cls=PROBE),
    Tool(("cat",), cls=PROBE, known=True),
    Tool(("echo",), cls=PROBE, known=True, builtin=True),
    Tool(("printf",), cls=PROBE, known=True, builtin=True),
    Tool(("sleep",), cls=PROBE, known=True),
    # processes and the system
    Tool(("kill",), cls=CHANGE, risk="medium", known=True, builtin=True),
    Tool(("pkill",), risk="medium", known=True),
    Tool(("killall",), risk="medium"),
    Tool(("systemctl",), rule=systemctl),
    Tool(("launchctl",), rule=launchctl),
    Tool(("defaults",), rule=defaults),
    Tool(("ip",), rule=ip),
    Tool(("plutil",), rule=plutil),
    Tool(("sysctl",), rule=sysctl),
    Tool(
        ("openssl",),
        rule=openssl,
        password=password("OPENSSL_PASSPHRASE", spaced="-passin -passout -pass", after="pass:"),
    ),
    Tool(
        ("keytool",),
        password=password("KEYSTORE_PASSWORD", spaced="-storepass -keypass -srcstorepass -deststorepass"),
    ),
    Tool(("htpasswd",), password=password("HTPASSWD_PASSWORD", last_arg_with="b")),
    Tool(("sshpass",), password=password("SSHPASS", glued="-p", spaced="-p")),
    # the network
    Tool(
        ("curl",),
        rule=curl,
        known=writes_output,
        password=password("CURL_PASSWORD", glued="-u -U", spaced="-u -U --user --proxy-user", after=":"),
    ),
    Tool(
        ("wget",),
        rule=wget,
        known=writes_output,
        password=password(
            "WGET_PASSWORD", spaced="--password --http-password --ftp-password --proxy-password"
        ),
    ),
    # version control
    Tool(("git",), rule=git, risk=git_risk, idem=git_idem, intent=git_intent, known=git_known),
    Tool(("gh",), rule=gh, risk=gh_risk),
    # toolchains and package managers
    Tool(("go",), rule=go, risk=install_risk, idem=go_idem, known=go_known),
    Tool(("gofmt", "goimports"), rule=gofmt, idem="content"),
    Tool(("cargo",), rule=cargo, risk=install_risk, idem=fmt_idem),
    Tool(("npm",), rule=lambda a: npm_like(a, implicit_run=False), risk=install_risk, idem=js_pm_idem),
    Tool(("pnpm",), rule=lambda a: npm_like(a, implicit_run=True), risk=install_risk, idem=js_pm_idem),
    Tool(("yarn",), rule=lambda a: npm_like(a, implicit_run=True), risk=install_risk, idem=js_pm_idem),
    Tool(("bun",), rule=bun, risk=install_risk, idem=js_pm_idem),
    Tool(("pip", "pip3"), rule=pip, risk=install_risk, idem=pm_idem),
    Tool(("uv",), rule=uv, risk=install_risk, idem=pm_idem),
    Tool(("poetry",), rule=poetry, risk=install_risk, idem=pm_idem),
    Tool(("pipenv",), rule=poetry),
    Tool(("bundle",), rule=bundle, risk=install_risk, idem=pm_idem),
    Tool(("gem",), rule=gem, risk=install_risk),
    Tool(("composer",), risk=install_risk),
    Tool(("conda", "mamba"), rule=conda, risk=install_risk),
    Tool(("micromamba",), rule=conda),
    Tool(("brew",), rule=brew, risk=install_risk, idem=system_install_idem),
    Tool(("apt",), rule=apt, risk=install_risk, idem=system_install_idem),
    Tool(("apt-get",), rule=apt, risk=install_risk, idem=system_install_idem),
    Tool(("apt-cache",), cls=PROBE),
    Tool(("dnf", "yum"), rule=dnf, risk=install_risk, idem=system_install_idem),
    Tool(("apk",), risk=install_risk),
    Tool(("pacman",), risk=pacman_risk),
    Tool(("dpkg",), rule=dpkg),
    Tool(("dpkg-query",), cls=PROBE),
    Tool(("rpm",), rule=rpm),
    Tool(("rustup",), rule=rustup),
    Tool(("deno",), rule=deno),
    Tool(("dotnet",), rule=dotnet),
    Tool(("swift",), rule=swift),
    Tool(("flutter", "dart"), rule=flutter),
    Tool(("mix",), rule=mix),
    Tool(("bazel", "bazelisk"), rule=bazel),
    Tool(("meson",), rule=lambda a: CHECK if a and a[0] == "test" else CHANGE),
    *_many(_S("gcc cc clang g++ clang++ rustc"), known=writes_output),
    # task runners
    Tool(("make", "gmake"), rule=make, idem=task_idem),
    Tool(("mise",), rule=mise, idem=task_idem),
    Tool(("just", "task"), rule=just_like, idem=task_idem),
    Tool(("rake", "invoke", "inv"), rule=just_like),
    Tool(("gradle", "gradlew", "mvn", "mvnw"), rule=gradle_like),
    # containers and infrastructure
    Tool(("docker",), rule=docker, risk="medium", password=_DOCKER_PW),
    Tool(("podman",), rule=docker, risk="medium", password=_REGISTRY),
    Tool(("docker-compose",), rule=lambda a: docker(["compose", *a]), risk="medium"),
    Tool(("nerdctl",), password=_REGISTRY),
    Tool(("skopeo",), password=_REGISTRY),
    Tool(("kubectl",), rule=kubectl, risk=kubectl_risk),
    Tool(("oc",), rule=kubectl),
    Tool(("helm",), rule=helm, risk="medium", password=_REGISTRY),
    Tool(("terraform", "tofu"), rule=terraform, risk=terraform_risk, idem=fmt_idem),
    Tool(
        ("az",), password=password("AZURE_PASSWORD", glued="-p", spaced="-p --password", subcommand="login")
    ),
    # databases and directories: passwords on the command line
    *_many(
        _S("mysql mysqldump mysqladmin mysqlimport mysqlcheck mysqlsh mariadb mariadb-dump mariadb-admin"),
        password=_MYSQL,
    ),
    *_many(_S("mongo mongosh mongodump mongorestore mongoexport mongoimport"), password=_MONGO),
    *_many(_S("ldapsearch ldapadd ldapmodify ldapdelete ldappasswd"), password=_LDAP),
    Tool(("redis-cli",), password=password("REDISCLI_AUTH", spaced="-a --pass")),
    Tool(("sqlcmd",), password=password("SQLCMD_PASSWORD", spaced="-P")),
    # formatters and linters: a verdict, or a change with their fix flags
    Tool(("tsc", "vue-tsc"), rule=tsc),
    Tool(("ruff",), rule=ruff, idem=fmt_idem),
    Tool(("golangci-lint",), rule=golangci, idem=fmt_idem),
    Tool(("biome",), rule=biome, idem=fmt_idem),
    Tool(("pre-commit",), rule=pre_commit),
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
    Tool(("dprint",), rule=lambda a: CHECK if a and a[0] == "check" else generic(a) or CHANGE, idem=fmt_idem),
    Tool(("buf",), rule=lambda a: CHECK if a and a[0] in ("lint", "breaking") else generic(a) or CHANGE),
    Tool(("ctest",), cls=CHECK),
)
TOOLS: tuple[Tool, ...] = (
    *_OWN,
    *_family(TEST_BINS, _OWN, cls=CHECK),
    *_family(LINT_BINS, _OWN, rule=linter),
    *_family(PROBE_BINS - _BUILTIN_WORDS, _OWN, cls=PROBE),
    *_family(PROBE_BINS & _BUILTIN_WORDS, _OWN, cls=PROBE, builtin=True),
    *_family(_BUILTIN_WORDS - PROBE_BINS, _OWN, builtin=True),
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
