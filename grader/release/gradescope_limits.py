"""The Gradescope autograder's settings, and the grading limits that fit its time limit.

    settings = Settings.load(Path("/autograder/source/gradescope.json"))
    raw = fitted_config(yaml.safe_load(config_text), settings.timeout_seconds)   # a config.yaml dict

Gradescope stops an autograder after its timeout (10 minutes by default, 40 at most), with
half a virtual CPU and 768 MB by default. The kit's own limits (grader/config.yaml) suit a
course machine, not that: an MNIST training may take 900 s there, a hidden-test session 2400 s.
`fitted_config` scales them into the timeout so that even a submission that hangs everywhere
ends with every part graded or reported, before Gradescope's own kill:

    reserve     45 s + 5%        start-up, MNIST loading, measuring, writing results.json
    modules     25% of the rest  the hidden tests of Modules 01-08 (two concurrent sessions);
                                 no test starts after that, the one running gets its own limit
    per test     8% of the rest  one hidden test (pytest-timeout), at least 20 s
    per probe    3% of the rest  one sandboxed call into student code, at least 10 s
    milestone                    TinyDigits (10%) then MNIST (35%) training, beside the
                                 milestone's hidden tests (a session like the modules')

Every limit is capped at the kit's own value: a longer timeout never loosens what the kit
allows. `worst_case_seconds` adds up the longest a grading can take under these limits;
from a 5-minute timeout up it stays under the supervisor's cut (the timeout minus
SUPERVISOR_MARGIN_SECONDS), below that the supervisor's cut ends the milestone early. With
the default 600 s: 131 s for the module tests, 42 s per test, 15.75 s per probe, TinyDigits
52.5 s, MNIST 184 s, worst case 515 s.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from grader.core.outcomes import Visibility

DEFAULT_TIMEOUT_SECONDS = 600       # Gradescope's default autograder timeout
MAX_TIMEOUT_SECONDS = 2400          # the most Gradescope allows
SUPERVISOR_MARGIN_SECONDS = 15      # the supervisor stops the grading this long before the timeout


@dataclass(frozen=True)
class Settings:
    """What the instructor chose when building the zip (`grader gradescope --timeout-minutes ...`)."""

    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS      # the assignment's autograder timeout on Gradescope
    summary_visibility: str = "visible"                 # the per-module summary rows
    hidden_visibility: str | None = None                # override the hidden tests' own visibility
    kit_commit: str = ""                                # what the zip was built from

    def __post_init__(self) -> None:
        if not 60 <= self.timeout_seconds <= MAX_TIMEOUT_SECONDS:
            raise ValueError(f"timeout_seconds {self.timeout_seconds} is outside Gradescope's 60..{MAX_TIMEOUT_SECONDS}")
        allowed = {v.value for v in Visibility}
        for name in ("summary_visibility", "hidden_visibility"):
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise ValueError(f"{name} {value!r} is not one of {sorted(allowed)}")

    @classmethod
    def load(cls, path: Path) -> "Settings":
        """The settings in `path`; the defaults when it does not exist."""
        if not path.is_file():
            return cls()
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def fitted_config(raw: dict[str, Any], timeout_seconds: float) -> dict[str, Any]:
    """A copy of the config.yaml dict `raw` with every time limit fitted into `timeout_seconds`."""
    out = json.loads(json.dumps(raw))                   # a deep copy of plain YAML data
    usable = timeout_seconds - reserve_seconds(timeout_seconds)
    if usable < 30:
        raise ValueError(f"a {timeout_seconds:g} s timeout leaves no time to grade")
    tests, sandbox, milestone = out["tests"], out["sandbox"], out["milestone03"]

    def cap(value: float, kit: float) -> float:
        return round(min(float(kit), value), 2)

    tests["hidden_session_seconds"] = cap(0.25 * usable, tests["hidden_session_seconds"])
    tests["hidden_timeout_seconds"] = cap(max(20.0, 0.08 * usable), tests["hidden_timeout_seconds"])
    sandbox["probe_time_limit_seconds"] = cap(max(10.0, 0.03 * usable), sandbox["probe_time_limit_seconds"])
    shares = {"tinydigits": 0.10, "mnist": 0.35}
    for key, spec in milestone.items():
        if isinstance(spec, dict) and "time_limit_seconds" in spec:
            spec["time_limit_seconds"] = cap(shares.get(key, 0.10) * usable, spec["time_limit_seconds"])
    return out


def reserve_seconds(timeout_seconds: float) -> float:
    """What the timeout keeps back for everything but the graded sessions and trainings."""
    return 45 + 0.05 * timeout_seconds


def worst_case_seconds(fitted: dict[str, Any], timeout_seconds: float, grace_seconds: float = 15.0) -> float:
    """The longest a grading can take under `fitted` limits: the reserve, the modules' sessions
    (soft deadline, one more test, the kill grace), then the longer of the milestone trainings
    (and one readiness probe) and the milestone's hidden-test session."""
    tests, probe = fitted["tests"], fitted["sandbox"]["probe_time_limit_seconds"]
    session = tests["hidden_session_seconds"] + tests["hidden_timeout_seconds"] + grace_seconds
    training = sum(spec["time_limit_seconds"] for spec in fitted["milestone03"].values() if isinstance(spec, dict)) + probe
    return reserve_seconds(timeout_seconds) + session + max(training, session)
