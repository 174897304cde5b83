"""Hostile data at the grader's boundary, property style: random nested structures, strings and
numbers go through the decoders (`read_session_log`, `Row.from_untrusted`, the sandbox protocol),
the rows, the terminal report and the results.json writer. Whatever comes in, nothing raises,
the JSON is strict, every text is valid UTF-8 and no raw escape character reaches the output.

Seeded generators (random and NumPy), so a failure reproduces; the seed is in the test id.
"""
from __future__ import annotations

import io
import json
import math
import random
import re
import time
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from grader.config import load_config
from grader.core.outcomes import Outcome, Source, Visibility, classify, describe
from grader.core.rows import MAX_TEXT, Row, Section, SectionKind, read_session_log, safe_text
from grader.core.targets import resolve_targets
from grader.engine.grade import GradeReport
from grader.export.results_json import plain, results_json, write_results_json
from grader.milestones.m03.score import MilestoneRun
from grader.report.render import render
from grader.sandbox import protocol

CFG = load_config()
SEEDS = [1, 2, 3, 4, 5, 6, 7, 8]
CASES_PER_SEED = 60
INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}   # control, format, surrogate, private, unassigned, separators
RICH_SGR = re.compile(r"\x1b\[[0-9;]*m")     # the only escapes rich itself writes (colours, bold)

NASTY_STRINGS = [
    "\x1b[2J\x1b[H", "\x1b[32m✓ passed\x1b[0m  Total: 277 checks: 277 passed", "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\",
    "\ud800", "\udfff lone", "a\ud83d", "[/]", "[bold red]forged[/bold red]", "[link=file:///etc/passwd]x[/link]",
    "[/bold]", "\\[escaped]", "\u202eevil", "\u2028line\u2029para", "\x00nul", "\r\roverwrite", "\x07\x08\x7f\x9b",
    "tab\there\nnewline", "👩\u200d💻", "e\u0301\u0301\u0301", "\ufeffbom", "\U0010ffff", ":warning: :smile:",
    "%s %d {0} {x}", "</script><b>", "null", "NaN", "Infinity",
]
NASTY_NUMBERS: list[Any] = [
    math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324, 10**400, -(10**400), 2**63, -(2**63), 10**30,
    True, False, 0, -1, 1.5, 2**1000 + 1,
]


def random_string(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.02:
        return rng.choice(NASTY_STRINGS) * rng.randint(10_000, 200_000)      # huge
    parts = [rng.choice(NASTY_STRINGS) if rng.random() < 0.5 else
             "".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(rng.randint(0, 12))) for _ in range(rng.randint(0, 5))]
    return "".join(parts)


def random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 6 or roll < 0.35:
        return rng.choice([random_string(rng), rng.choice(NASTY_NUMBERS), None, rng.randint(-5, 5)])
    if roll < 0.45:
        return DEEP[rng.choice(sorted(DEEP))]
    if roll < 0.75:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {random_string(rng)[:50]: random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def deep_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


DEEP = {depth: deep_list(depth) for depth in (50, 1_000, 20_000)}     # built once, shared (never changed)


def random_row_record(rng: random.Random) -> dict[str, Any]:
    """A row record as the plugin writes one, every field possibly replaced by something hostile."""
    row: dict[str, Any] = {
        "section": rng.choice([["module", "02"], ["module", "99"], ["module", "²"], ["milestone", "milestone03"],
                               ["session", random_string(rng)], ["session", "[/]"], "module", ["module"], None]),
        "title": random_string(rng), "reason": random_string(rng),
        "outcome": rng.choice([o.value for o in Outcome] + ["passed "]),
        "points": rng.choice(NASTY_NUMBERS + [1.0, None]),
        "visibility": rng.choice([v.value for v in Visibility] + ["[/]"]),
        "nodeid": random_string(rng), "seconds": rng.choice(NASTY_NUMBERS),
        "location": random_string(rng), "metrics": {random_string(rng)[:20]: rng.choice(NASTY_NUMBERS + [random_string(rng)])
                                                    for _ in range(rng.randint(0, 3))},
    }
    for key in rng.sample(sorted(row), rng.randint(0, 3)):
        row[key] = random_value(rng)
    return row


def to_json_line(rng: random.Random, record: Any) -> str:
    try:
        return json.dumps(record, allow_nan=True)      # surrogates become \\ud800 escapes, still valid JSON text
    except (ValueError, RecursionError):
        return "[" * 100_000 + "]" * 100_000


def session_log_text(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(1, 12)):
        roll = rng.random()
        if roll < 0.5:
            lines.append(to_json_line(rng, {"kind": "row", "row": random_row_record(rng)}))
        elif roll < 0.6:
            lines.append("[" * rng.choice([100, 5_000, 200_000]))                       # nested too deeply
        elif roll < 0.7:
            lines.append('{"kind": "collected", "count": ' + rng.choice(["1e999", "9" * 4000, "-5", "Infinity", "NaN", "3.5", "true"]) + "}")
        elif roll < 0.8:
            lines.append(to_json_line(rng, {"kind": rng.choice(["start", "stuck", "finished"]), "nodeid": random_value(rng),
                                            "location": random_value(rng)}))
        else:
            lines.append(random_string(rng))
    return "\n".join(lines)


def assert_safe(text: str, limit: int = MAX_TEXT) -> None:
    assert type(text) is str and len(text) <= limit
    text.encode("utf-8")                                  # strict: no lone surrogate
    hidden = [c for c in text if unicodedata.category(c) in INVISIBLE and c != "\u200d"]   # the emoji joiner stays
    assert not hidden, f"{hidden[:5]!r} in {text[:200]!r}"


def assert_safe_row(row: Row, *, keep_points: bool) -> None:
    for value in (row.title, row.reason, row.nodeid, row.section.key):
        assert_safe(value)
    assert_safe(row.location, 200)
    assert math.isfinite(row.seconds) and row.seconds >= 0
    if not keep_points:
        assert row.points is None and row.metrics == {} and row.visibility is Visibility.VISIBLE
    elif row.points is not None:
        assert math.isfinite(row.points) and row.points >= 0
    if row.section.kind is SectionKind.MODULE:
        assert row.section.key.isascii() and row.section.key.isdigit()


def render_text(report: GradeReport, *, colour: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=colour, color_system="truecolor" if colour else None,
                      soft_wrap=False)
    render(report, CFG, console)
    return out.getvalue()


def strict_json(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("seed", SEEDS)
def test_hostile_session_logs_decode_render_and_export_safely(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    targets = resolve_targets(["all"], CFG)
    for case in range(CASES_PER_SEED):
        keep_points = rng.random() < 0.5
        log = read_session_log(session_log_text(rng), source=Source.HIDDEN if keep_points else Source.PUBLIC,
                               keep_points=keep_points)
        for row in log.rows:
            assert_safe_row(row, keep_points=keep_points)
        assert log.collected is None or 0 <= log.collected <= 100_000
        assert_safe(log.running, 300)
        made = [Row(Section.session(random_string(rng)[:40]), random_string(rng), rng.choice(list(Outcome)),
                    random_string(rng), rng.choice([None, 1.0, 2.5]), source=rng.choice(list(Source)),
                    seconds=rng.choice(NASTY_NUMBERS), location=random_string(rng))]
        runs = {"tinydigits": MilestoneRun("tinydigits", rng.choice(["ok", "crashed", random_string(rng)]),
                                           random_string(rng), rng.choice([math.nan, 0.5, None]), math.inf,
                                           metrics={random_string(rng)[:30]: random_value(rng) for _ in range(3)})}
        report = GradeReport(Path(random_string(rng)[:200] or "[/]"), targets, rng.random() < 0.5, log.rows + made,
                             rng.choice([1.5, math.nan, math.inf]), 100.0, runs, rng.choice([0.0, math.nan]))
        for colour in (False, True):
            text = render_text(report, colour=colour)
            assert "\x1b" not in RICH_SGR.sub("", text), f"seed {seed} case {case}: a raw escape reached the report"
            text.encode("utf-8")
        path = tmp_path / "results.json"
        write_results_json(report, path)
        raw = path.read_bytes()
        data = strict_json(raw.decode("utf-8"))
        assert b"\x1b" not in raw and math.isfinite(data["score"]) and math.isfinite(data["execution_time"])
        assert all(isinstance(t["output"], str) and isinstance(t["name"], str) for t in data["tests"])


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_hostile_rows_and_values_never_raise(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(CASES_PER_SEED * 4):
        raw = random_row_record(rng) if rng.random() < 0.7 else random_value(rng)
        keep = rng.random() < 0.5
        row = Row.from_untrusted(raw, source=Source.PUBLIC, keep_points=keep)
        if row is not None:
            assert_safe_row(row, keep_points=keep)
        value = random_value(rng)
        limit = rng.choice([1, 10, 600, 5000])
        assert_safe(safe_text(value, limit), limit)
        strict_json(json.dumps(plain({"v": value, "n": rng.choice(NASTY_NUMBERS)}), allow_nan=False))


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


@pytest.mark.parametrize("exc", [
    ValueError("x" * 10_000_000), ValueError("x " * 5_000_000), ValueError(deep_list(100_000)), _Unprintable(),
    NotImplementedError("Module 02: " + "\x1b[2J" * 100_000), AssertionError("\ud800[/]\x1b[31m"),
    type("\x1b[2JEvil[/]", (Exception,), {})("boom"),
], ids=["10MB", "5M-words", "deep-args", "unprintable", "stub-ansi", "assert-surrogate", "ansi-class-name"])
def test_classifying_hostile_exceptions_is_fast_and_safe(exc: BaseException) -> None:
    start = time.perf_counter()
    verdict = classify(exc, own_module="02", course=CFG.course)
    row = Row(Section.module("02"), "t", verdict.outcome, verdict.reason, 1.0)
    assert time.perf_counter() - start < 1.0
    assert_safe(row.reason)
    assert len(describe(exc)) <= 20_000 + 100


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_the_protocol_decoder_raises_only_plain_data_errors(seed: int) -> None:
    """Random JSON trees and byte strings through the sandbox protocol's decoder (the grader's
    side of a probe's result): a value or PlainDataError, never anything else."""
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    tags = ["L", "T", "D", "A", "X"]

    def tree(depth: int) -> Any:
        if depth > 40 or rng.random() < 0.3:
            return rng.choice([random_string(rng)[:100], rng.choice(NASTY_NUMBERS), None])
        tag = rng.choice(tags)
        body = ({"k": tree(depth + 1)} if tag == "D" else "a0" if tag == "A" else [tree(depth + 1)])
        return {tag: body}

    for _ in range(CASES_PER_SEED):
        payload = json.dumps({"v": tree(0)}, allow_nan=True).encode("utf-8", "surrogatepass") \
            if rng.random() < 0.8 else nprng.bytes(rng.randint(0, 200))
        npz = protocol.npz_bytes({"a0": nprng.normal(size=3)}) if rng.random() < 0.5 else nprng.bytes(64)
        try:
            decoded = protocol.decode(protocol.loads_json(payload), npz, 1024 * 1024)
        except protocol.PlainDataError:
            continue
        strict_json(json.dumps(plain({"decoded": _listed(decoded)}), allow_nan=False))


def _listed(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _listed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_listed(v) for v in value]
    return value
