"""Replay engine: simulate, strict and guided replays of playbooks over a pluggable runner."""

from aionisd.replay.bind import Bound, UnsafeValue, bind_command
from aionisd.replay.checks import (
    CheckResult,
    PathEscape,
    Resolved,
    SimulationReport,
    StepPlan,
    confine,
    evaluate_preconditions,
    resolve_params,
    simulate,
    substitute,
)
from aionisd.replay.engine import (
    Divergence,
    EventSink,
    Mode,
    RepairDecision,
    RepairHook,
    Replay,
    ReplayResult,
    StepOutcome,
)
from aionisd.replay.runner import (
    CommandResult,
    FileResult,
    LocalRunner,
    OutputSink,
    Runner,
    SimulatedRunner,
)

__all__ = [
    "Bound",
    "CheckResult",
    "CommandResult",
    "Divergence",
    "EventSink",
    "FileResult",
    "LocalRunner",
    "Mode",
    "OutputSink",
    "PathEscape",
    "RepairDecision",
    "RepairHook",
    "Replay",
    "ReplayResult",
    "Resolved",
    "Runner",
    "SimulatedRunner",
    "SimulationReport",
    "StepOutcome",
    "StepPlan",
    "UnsafeValue",
    "bind_command",
    "confine",
    "evaluate_preconditions",
    "resolve_params",
    "simulate",
    "substitute",
]
