"""LocalRunner with real subprocesses in tmp dirs; SimulatedRunner's recording and scripting."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
from pathlib import Path

import pytest
import trio

from aionisd.model import OUTPUT_HEAD, OUTPUT_TAIL
from aionisd.replay.contain import REPLAY_TAG, STEP_TAG
from aionisd.replay.runner import (
    CommandResult,
    FileResult,
    LocalRunner,
    SimulatedRunner,
    sha256_hex,
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def assert_group_gone(pgid: int) -> None:
    """No process of the step's group is left, zombies included (they keep their /proc entry).
    Only this group: other tests in the same process may have children of their own."""
    left = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
                    left.append(int(entry))
    assert left == [], f"processes left in group {pgid}: {left}"


async def test_exit_code_and_output(tmp_path: Path, env: dict[str, str]) -> None:
    res = await LocalRunner().run_command(
        "echo out; echo err >&2; exit 3", shell="bash -c", cwd=tmp_path, env=env, timeout_s=10
    )
    assert (res.exit_code, res.stdout, res.stderr) == (3, "out\n", "err\n")
    assert (res.stdout_size, res.stderr_size, res.timed_out, res.error) == (4, 4, False, None)


async def test_runs_in_cwd_and_streams_output(tmp_path: Path, env: dict[str, str]) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    chunks: list[tuple[str, str]] = []

    async def sink(stream: str, text: str) -> None:
        chunks.append((stream, text))

    res = await LocalRunner().run_command(
        "pwd; echo oops >&2", shell="bash -c", cwd=sub, env=env, timeout_s=10, on_output=sink
    )
    assert res.stdout == f"{sub}\n"
    assert "".join(t for s, t in chunks if s == "stdout") == res.stdout
    assert "".join(t for s, t in chunks if s == "stderr") == "oops\n"


async def test_signal_exit_is_negative(tmp_path: Path, env: dict[str, str]) -> None:
    res = await LocalRunner().run_command("kill -9 $$", shell="bash -c", cwd=tmp_path, env=env, timeout_s=10)
    assert res.exit_code == -signal.SIGKILL


async def test_login_shell(tmp_path: Path, env: dict[str, str]) -> None:
    res = await LocalRunner().run_command(
        "shopt -q login_shell && echo login", shell="bash -lc", cwd=tmp_path, env=env, timeout_s=10
    )
    assert res.stdout.strip().endswith("login")


async def test_missing_cwd_is_an_error_not_a_crash(tmp_path: Path, env: dict[str, str]) -> None:
    res = await LocalRunner().run_command(
        "true", shell="bash -c", cwd=tmp_path / "nope", env=env, timeout_s=10
    )
    assert res.exit_code is None
    assert res.error is not None and "cwd does not exist" in res.error


async def test_child_sees_only_the_given_env(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIONIS_DAEMON_ONLY", "leak")
    res = await LocalRunner().run_command(
        "env", shell="bash -c", cwd=tmp_path, env={**env, "GIVEN": "yes"}, timeout_s=10
    )
    seen = dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)
    assert seen["GIVEN"] == "yes"
    assert "AIONIS_DAEMON_ONLY" not in seen
    # bash adds PWD, SHLVL and _ itself, the runner its containment tags; nothing else comes
    assert set(seen) - {"PWD", "SHLVL", "_"} == {"PATH", "HOME", "GIVEN", REPLAY_TAG, STEP_TAG}


async def test_timeout_kills_the_whole_group(tmp_path: Path, env: dict[str, str]) -> None:
    res = await LocalRunner().run_command(
        "echo $$; sleep 1000 & sleep 1000 & wait",
        shell="bash -c",
        cwd=tmp_path,
        env=env,
        timeout_s=0.3,
    )
    assert res.timed_out and res.exit_code is None
    pgid = int(res.stdout.split()[0])
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    assert_group_gone(pgid)


async def test_term_ignoring_group_is_killed(tmp_path: Path, env: dict[str, str]) -> None:
    runner = LocalRunner(grace_s=0.2)
    start = trio.current_time()
    res = await runner.run_command(
        "trap '' TERM; echo $$; sleep 1000 & wait",
        shell="bash -c",
        cwd=tmp_path,
        env=env,
        timeout_s=0.2,
    )
    assert res.timed_out
    assert not group_alive(int(res.stdout.split()[0]))
    assert trio.current_time() - start < 1.5


async def test_cancel_kills_the_group_within_a_second(tmp_path: Path, env: dict[str, str]) -> None:
    pids: list[int] = []
    cancelled_at = 0.0

    with trio.CancelScope() as scope:

        async def sink(stream: str, text: str) -> None:
            nonlocal cancelled_at
            pids.append(int(text.split()[0]))
            cancelled_at = trio.current_time()
            scope.cancel()

        await LocalRunner().run_command(
            "echo $$; sleep 1000 & sleep 1000",
            shell="bash -c",
            cwd=tmp_path,
            env=env,
            timeout_s=600,
            on_output=sink,
        )
    assert scope.cancelled_caught
    assert trio.current_time() - cancelled_at < 1.5
    assert not group_alive(pids[0])
    assert_group_gone(pids[0])


async def test_huge_output_stays_bounded(tmp_path: Path, env: dict[str, str]) -> None:
    size = 50 * 1024 * 1024
    res = await LocalRunner().run_command(
        f"head -c {size} /dev/zero | tr '\\0' a; echo -n END",
        shell="bash -c",
        cwd=tmp_path,
        env=env,
        timeout_s=60,
    )
    assert res.exit_code == 0
    assert res.stdout_size == size + 3
    cut = size + 3 - OUTPUT_HEAD - OUTPUT_TAIL
    marker = f"\n[... {cut} bytes elided ...]\n"
    assert res.stdout == "a" * OUTPUT_HEAD + marker + "a" * (OUTPUT_TAIL - 3) + "END"


async def test_background_child_holding_the_pipe_does_not_block(tmp_path: Path, env: dict[str, str]) -> None:
    runner = LocalRunner()
    res = await runner.run_command("sleep 30 & echo $!", shell="bash -c", cwd=tmp_path, env=env, timeout_s=5)
    bg = int(res.stdout.split()[0])
    try:
        assert (res.exit_code, res.timed_out) == (0, False)
    finally:
        os.kill(bg, signal.SIGKILL)
        os.waitpid(bg, 0)  # adopted: the runner made this process a subreaper


async def test_wrap_prefixes_the_argv(tmp_path: Path, env: dict[str, str]) -> None:
    res = await LocalRunner(wrap=["env", "WRAPPED=1"]).run_command(
        "echo $WRAPPED", shell="bash -c", cwd=tmp_path, env=env, timeout_s=10
    )
    assert res.stdout == "1\n"


async def test_unknown_shell_is_an_error(tmp_path: Path, env: dict[str, str]) -> None:
    res = await LocalRunner().run_command(
        "true", shell="no-such-shell-xyz -c", cwd=tmp_path, env=env, timeout_s=10
    )
    assert res.exit_code is None and res.error and "cannot start" in res.error


async def test_write_file_atomic_with_parents_and_sha(tmp_path: Path) -> None:
    runner = LocalRunner()
    target = tmp_path / "a" / "b" / "f.txt"
    ok = await runner.write_file(target, "hello\n", sha256_hex("hello\n"))
    assert ok == FileResult(True)
    assert target.read_text() == "hello\n"
    target.chmod(0o600)
    assert (await runner.write_file(target, "again\n", None)).ok
    assert target.read_text() == "again\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.txt"]


async def test_write_file_sha_mismatch_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    res = await LocalRunner().write_file(target, "hello\n", "sha256:" + "0" * 64)
    assert not res.ok and res.error and "sha256 mismatch" in res.error
    assert not target.exists()


async def test_edit_file_requires_exactly_one_occurrence(tmp_path: Path) -> None:
    runner = LocalRunner()
    f = tmp_path / "f.txt"
    f.write_text("a = 1\nb = 2\nb = 2\n")
    assert (await runner.edit_file(f, "a = 1", "a = 10")).ok
    assert f.read_text() == "a = 10\nb = 2\nb = 2\n"
    twice = await runner.edit_file(f, "b = 2", "b = 3")
    assert not twice.ok and twice.error and "2 times" in twice.error
    none = await runner.edit_file(f, "c = 3", "c = 4")
    assert not none.ok and none.error and "0 times" in none.error
    assert f.read_text() == "a = 10\nb = 2\nb = 2\n"
    missing = await runner.edit_file(tmp_path / "nope", "x", "y")
    assert not missing.ok and missing.error and "not found" in missing.error


async def test_simulated_runner_records_and_scripts(tmp_path: Path) -> None:
    runner = SimulatedRunner({"make": CommandResult(2, stderr="no rule")})
    seen: list[tuple[str, str]] = []

    async def sink(stream: str, text: str) -> None:
        seen.append((stream, text))

    res = await runner.run_command(
        "make", shell="bash -c", cwd=tmp_path, env={"A": "1"}, timeout_s=5, on_output=sink
    )
    assert (res.exit_code, res.stderr_size) == (2, 7)
    assert seen == [("stderr", "no rule")]
    assert (await runner.run_command("ls", shell="bash -c", cwd=tmp_path, env={}, timeout_s=5)).exit_code == 0
    assert (await runner.write_file(tmp_path / "x", "c", None)).ok
    assert runner.commands == ["make", "ls"]
    assert [c.op for c in runner.calls] == ["run_command", "run_command", "write_file"]
    assert runner.calls[0].args["env"] == {"A": "1"}
    assert not (tmp_path / "x").exists()

    counter = SimulatedRunner(lambda cmd: CommandResult(len(cmd)))
    assert (
        await counter.run_command("abc", shell="bash -c", cwd=tmp_path, env={}, timeout_s=1)
    ).exit_code == 3
