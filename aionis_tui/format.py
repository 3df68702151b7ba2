"""Pure presentation helpers: glyphs, durations, sizes, times and diffs as Rich Text.

User data (commands, paths, goals) is never parsed as markup: it goes into `Text` verbatim.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.text import Text

from aionisd.events import review_lines

GLYPHS: dict[str, tuple[str, str]] = {
    "succeeded": ("✓", "green"),
    "success": ("✓", "green"),
    "passed": ("✓", "green"),
    "failed": ("✗", "red"),
    "shadow_failed": ("✗", "red"),
    "invalid": ("✗", "red"),
    "refused": ("⊘", "red"),
    "diverged": ("≠", "red"),
    "not_run": ("○", "bright_black"),
    "skipped": ("-", "bright_black"),
    "would-skip": ("-", "bright_black"),
    "would_skip": ("-", "bright_black"),
    "would-run": ("▷", "cyan"),
    "would_run": ("▷", "cyan"),
    "blocked": ("!", "yellow"),
    "running": ("◐", "yellow"),
    "pending": ("·", "bright_black"),
    "pending_review": ("?", "yellow"),
    "partial": ("◑", "yellow"),
    "cancelled": ("⊘", "yellow"),
    "interrupted": ("⊘", "yellow"),
    "approved": ("✓", "green"),
    "rejected": ("✗", "red"),
    "active": ("●", "green"),
    "draft": ("◌", "yellow"),
    "disabled": ("⊘", "bright_black"),
}

# A repair's state in words (repairs.get `state`): each word its own glyph, so a passing shadow
# run on a pending repair never looks like an approval.
STATES: dict[str, tuple[str, str]] = {
    "pending": ("?", "yellow"),
    "shadow failed": ("✗", "red"),
    "approved": ("✓", "green"),
    "promoted": ("●", "green"),
    "rejected": ("⊘", "red"),
    "invalid": ("✗", "red"),
}

SIGNATURES: dict[str, tuple[str, str, str]] = {
    "trusted": ("✓", "trusted", "green"),
    "untrusted": ("?", "untrusted", "yellow"),
    "tampered": ("✗", "TAMPERED", "bold red"),
    "unsigned": ("-", "unsigned", "bright_black"),
}


def text(value: object, style: str = "") -> Text:
    """A cell that shows `value` literally (no markup), `—` for None."""
    return Text("—" if value is None else str(value), style=style)


def glyph(status: str | None) -> Text:
    g, style = GLYPHS.get(status or "", ("·", "bright_black"))
    return Text(g, style=style)


def status_text(status: str | None) -> Text:
    g, style = GLYPHS.get(status or "", ("·", "bright_black"))
    return Text(f"{g} {status or '—'}", style=style)


def state_text(state: str | None) -> Text:
    g, style = STATES.get(state or "", ("·", "bright_black"))
    return Text(f"{g} {state or '—'}", style=style)


def signature(state: str | None, signer: str | None = None) -> Text:
    g, label, style = SIGNATURES.get(state or "", ("·", state or "—", "bright_black"))
    out = Text(f"{g} {label}", style=style)
    if signer and state == "trusted":
        out.append(f" {signer}", style="bright_black")
    return out


def duration(ms: float | None) -> str:
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{int(ms)}ms"
    s = ms / 1000
    if s < 60:
        return f"{s:.1f}s"
    m, s = divmod(int(s), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def count(n: float | None) -> str:
    """1234 -> 1.2k: token counts are read at a glance, not to the unit."""
    if n is None:
        return "—"
    n = float(n)
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return str(int(n))


def parse_ts(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def ago(ts: str | None, now: datetime) -> str:
    dt = parse_ts(ts)
    if dt is None:
        return "—"
    s = (now - dt).total_seconds()
    if s < 0:
        return "just now" if s > -60 else dt.strftime("%Y-%m-%d %H:%M")
    if s < 60:
        return f"{int(s)}s ago"
    if s < 3600:
        return f"{int(s // 60)}m ago"
    if s < 86400:
        return f"{int(s // 3600)}h ago"
    if s < 86400 * 30:
        return f"{int(s // 86400)}d ago"
    return dt.strftime("%Y-%m-%d")


def short(value: str | None, n: int = 12) -> str:
    if not value:
        return "—"
    return value if len(value) <= n else value[: n - 1] + "…"


def one_line(value: str | None, n: int = 80) -> str:
    if not value:
        return ""
    flat = " ".join(value.split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"


def path(value: str | None, width: int = 60, home: str | None = None) -> str:
    """A path that fits: `~` for home, then the middle elided (the file name matters most)."""
    if not value:
        return "—"
    home = home if home is not None else os.path.expanduser("~")
    if home and home != "/" and (value == home or value.startswith(home.rstrip("/") + "/")):
        value = "~" + value[len(home.rstrip("/")) :]
    if len(value) <= width or width < 8:
        return value
    keep = width - 1
    head = keep // 3
    return value[:head] + "…" + value[len(value) - (keep - head) :]


def uptime(seconds: float | None) -> str:
    return duration(None if seconds is None else seconds * 1000)


@dataclass(frozen=True, slots=True)
class Saving:
    """One playbook's ledger line: what the agent spent once versus what replays cost."""

    id: str
    name: str
    replays: int
    succeeded: int
    source_tokens: int
    source_ms: int
    replay_ms: int

    @property
    def tokens_saved(self) -> int:
        return self.succeeded * self.source_tokens

    @property
    def ms_saved(self) -> int:
        return max(0, self.succeeded * (self.source_ms - self.replay_ms))


def savings(stats: Mapping[str, Any]) -> list[Saving]:
    out = []
    for p in stats.get("playbooks") or []:
        out.append(
            Saving(
                id=str(p.get("id") or ""),
                name=str(p.get("name") or p.get("id") or "?"),
                replays=int(p.get("replays") or 0),
                succeeded=int(p.get("succeeded") or 0),
                source_tokens=int(p.get("source_tokens") or 0),
                source_ms=int(p.get("source_duration_ms") or 0),
                replay_ms=int(p.get("replay_mean_ms") or 0),
            )
        )
    return sorted(out, key=lambda s: (-s.tokens_saved, -s.ms_saved, s.name))


def bar(value: float, top: float, width: int) -> str:
    """A horizontal bar in eighths, so small values still show."""
    if top <= 0 or value <= 0 or width <= 0:
        return ""
    eighths = max(1, round(value / top * width * 8))
    full, rest = divmod(eighths, 8)
    return "█" * full + ("" if rest == 0 else " ▏▎▍▌▋▊▉"[rest])


def review_diff(rows: list[dict[str, Any]]) -> Text:
    """A repair's `review_diff` (changed steps, a neighbour each side, the fields that matter)."""
    out = Text()
    styles = {"-": "red", "+": "green", " ": "bright_black"}
    for mark, line in review_lines(rows):
        out.append(f"{mark} {line}\n", style=styles[mark])
    out.rstrip()
    return out


def compile_report(res: Mapping[str, Any]) -> str:
    """`3 steps, 1 check; dropped 5 (probe 4, duplicate 1)` from playbooks.compile."""
    out = f"{res.get('steps')} steps, {res.get('checks') or 0} checks"
    report = res.get("report")
    dropped = report.get("dropped") if isinstance(report, Mapping) else None
    if isinstance(dropped, Mapping):
        parts = {k: int(v) for k, v in dropped.items() if isinstance(v, int) and v}
        if parts:
            detail = ", ".join(f"{k} {v}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1]))
            out += f"; dropped {sum(parts.values())} ({detail})"
    elif dropped:
        out += f"; dropped {dropped}"
    return out


def kv(rows: Sequence[tuple[str, object]], width: int = 14) -> Text:
    """Aligned `label  value` lines; values verbatim."""
    out = Text()
    for i, (label, value) in enumerate(rows):
        if i:
            out.append("\n")
        out.append(f"{label:<{width}}", style="bright_black")
        if isinstance(value, Text):
            out.append_text(value)
        else:
            out.append("—" if value is None else str(value))
    return out


def now_utc() -> datetime:
    return datetime.now(UTC)


def step_summary(step: dict[str, Any]) -> str:
    """What a step does, in one line: its command, the file it writes, or the tool it calls."""
    kind = step.get("kind")
    if kind in ("file_write", "file_edit"):
        return f"{'write' if kind == 'file_write' else 'edit'} {step.get('path') or ''}"
    if step.get("run") is not None:
        return str(step["run"])
    return f"{kind or 'tool'} {step.get('tool') or ''}".strip()
