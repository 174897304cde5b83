"""The release manifest (what ships to students) and the leak check over every shipped file:
solution lines, markers, hidden-test names and titles, each reported with file, line and origin."""
from __future__ import annotations

import ast
import shutil
import textwrap
from pathlib import Path

import pytest

from grader.release.check import check_leaks
from grader.release.manifest import RULES, Allowed, matches, shipped_files, unmatched_includes
from grader.release.origins import Origin, Secrets, hidden_identity, load_secrets, solution_lines
from grader.release.stubs_cli import main

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions" / "tinytorch"
HIDDEN = REPO / "solutions" / "hidden_tests"


@pytest.fixture(scope="module")
def secrets() -> Secrets:
    return load_secrets(SOLUTIONS, HIDDEN)


def copy_shipped(tmp_path: Path) -> Path:
    """A copy of the files the kit ships, laid out as in the repository."""
    root = tmp_path / "kit"
    for rel in shipped_files(REPO):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / rel, root / rel)
    return root


def append(path: Path, text: str) -> int:
    """Append `text` (one line) to `path`; return its line number."""
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    if before and not before.endswith("\n"):
        before += "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(before + text + "\n", encoding="utf-8")
    return before.count("\n") + 1


def test_manifest_ships_stubs_public_tests_milestones_and_grader():
    """The manifest lists the stubs, public tests, milestone scripts, grader, TinyDigits and pyproject.toml"""
    files = set(shipped_files(REPO))
    expected = {p.relative_to(REPO).as_posix() for pattern in ("assignments/tinytorch/*.py", "assignments/tests/*.py",
                                                               "assignments/milestones/03_1986_mlp/*")
                for p in REPO.glob(pattern) if p.is_file()}
    assert expected and expected <= files, sorted(expected - files)
    for rel in ("grader/cli.py", "grader/config.yaml", "grader/engine/grade.py", "grader/sandbox/worker.py",
                "data/tinydigits.npz", "pyproject.toml", ".gitignore"):
        assert rel in files, rel


@pytest.mark.parametrize("prefix", ["solutions/", "tests/", "benchmarks/", ".ci/", "grader/release/", "grader/testing/",
                                    ".venv/", ".git/"])
def test_manifest_excludes_instructor_folders(prefix):
    """Nothing under the reference, hidden tests, kit tests, benchmarks, CI or instructor-only grader parts ships"""
    leaked = [rel for rel in shipped_files(REPO) if rel.startswith(prefix)]
    assert not leaked, leaked


def test_manifest_skips_caches_and_unlisted_files_on_disk(tmp_path):
    """On disk, bytecode, caches, virtualenvs and files outside the include rules are left out"""
    for rel in ("assignments/tinytorch/tensor.py", "assignments/tinytorch/__pycache__/tensor.cpython-311.pyc",
                "assignments/tests/.pytest_cache/v/cache/nodeids", "assignments/stray.pyc", "grader/cli.py",
                "grader/release/check.py", "grader/testing/probe.py", "grader/x.egg-info/PKG-INFO",
                ".venv/lib/python3.11/site-packages/grader/cli.py", "solutions/tinytorch/tensor.py",
                "tests/test_x.py", "benchmarks/bench_epoch.py", "README.md", "data/tinydigits.npz", "data/mnist.npz",
                "notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x\n")
    assert shipped_files(tmp_path) == ["assignments/tinytorch/tensor.py", "data/tinydigits.npz", "grader/cli.py"]


def test_manifest_is_sorted_and_git_listing_is_a_subset():
    """Both listings are sorted and stable; the tracked one holds only files the disk listing has"""
    on_disk, tracked = shipped_files(REPO), shipped_files(REPO, tracked=True)
    assert on_disk == sorted(on_disk) == shipped_files(REPO)
    assert tracked == sorted(tracked) and set(tracked) <= set(on_disk)
    assert "assignments/tinytorch/tensor.py" in tracked


def test_every_rule_has_a_reason_and_exact_includes_exist():
    """Each rule explains itself in one line, and an include naming one file still finds it (no silent rename)"""
    for rule in RULES:
        assert rule.why.strip() and "\n" not in rule.why, rule
    assert unmatched_includes(REPO) == []


@pytest.mark.parametrize("pattern, rel, expected", [
    ("**/__pycache__/**", "__pycache__/a.pyc", True),
    ("**/__pycache__/**", "grader/engine/__pycache__/grade.cpython-311.pyc", True),
    ("grader/release/**", "grader/release/check.py", True),
    ("grader/release/**", "grader/releases.py", False),
    ("**/*.py[co]", "assignments/stray.pyc", True),
    ("data/tinydigits.npz", "data/sub/tinydigits.npz", False),
    ("assignments/**", "grader/assignments/x.py", False),
])
def test_patterns_match_whole_names_and_double_star_any_folders(pattern, rel, expected):
    """`**` spans any number of folders (none included); other parts are globs within one name"""
    assert matches(pattern, rel) is expected


def _module_file(module: str) -> list[str]:
    base = module.replace(".", "/")
    return [f"{base}.py", f"{base}/__init__.py"]


def test_shipped_files_import_only_shipped_grader_modules():
    """Every `grader.*` module a shipped file imports ships too (excluding a grader part cannot break the release)"""
    files = set(shipped_files(REPO))
    missing = []
    for rel in sorted(f for f in files if f.endswith(".py")):
        package = rel.rsplit("/", 1)[0].replace("/", ".") if rel.startswith("grader/") else ""
        for node in ast.walk(ast.parse((REPO / rel).read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level and package:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                names = [f"{parent}.{node.module}" if node.module else f"{parent}.{a.name}" for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] == "grader" and not files.intersection(_module_file(name)):
                    missing.append(f"{rel}:{node.lineno} imports {name}")
    assert not missing, missing


def test_manifest_command_prints_the_list(capsys):
    """`grader stubs manifest` prints the shipped files one per line and exits 0"""
    assert main(["manifest"]) == 0
    assert capsys.readouterr().out.split() == shipped_files(REPO)
    assert main(["manifest", "--root", str(REPO / "no-such-folder")]) == 2


def _planted(secrets: Secrets) -> dict[str, tuple[str, str, str]]:
    """{case: (shipped file, line to append, origin that must be named)}."""
    line, origin = next((l, o) for l, o in secrets.lines.items() if "losses.py" in o.path and len(l) > 25)
    test_name, test_origin = next((n, o) for n, o in secrets.names.items() if n.startswith("test_"))
    probe_name, probe_origin = next((n, o) for n, o in secrets.names.items() if not n.startswith("test_"))
    title, title_origin = next(iter(secrets.titles.items()))
    return {
        "solution-line-in-grader": ("grader/engine/forward.py", f"    {line}", str(origin)),
        "solution-line-as-doctest-in-readme": ("assignments/milestones/03_1986_mlp/README.md", f">>> {line}", str(origin)),
        "solution-line-in-backticks": ("assignments/milestones/03_1986_mlp/README.md", f"`{line}`", str(origin)),
        "hidden-test-name-in-markdown": ("assignments/milestones/03_1986_mlp/README.md",
                                         f"Like `{test_name}` in the hidden tests.", str(test_origin)),
        "probe-name-in-public-test": ("assignments/tests/test_03_layers.py", f"def {probe_name}(tt): pass", str(probe_origin)),
        "hidden-title-in-grader-docstring": ("grader/report/render.py", f"# {title}", str(title_origin)),
        "marker-in-yaml": ("grader/config.yaml", "# ### BEGIN SOLUTION 01 | add | x", "solution marker"),
        "marker-in-pyproject": ("pyproject.toml", "# ### END SOLUTION", "solution marker"),
    }


@pytest.mark.parametrize("case", ["solution-line-in-grader", "solution-line-as-doctest-in-readme",
                                  "solution-line-in-backticks", "hidden-test-name-in-markdown",
                                  "probe-name-in-public-test", "hidden-title-in-grader-docstring",
                                  "marker-in-yaml", "marker-in-pyproject"])
def test_check_reports_a_planted_leak_with_file_line_and_origin(case, secrets, tmp_path, capsys):
    """A secret planted in any shipped file fails `grader stubs check`, naming the file, the line and the origin"""
    root = copy_shipped(tmp_path)
    rel, text, origin = _planted(secrets)[case]
    number = append(root / rel, text)
    assert main(["check", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    reported = [line for line in err.splitlines() if f"{rel}:{number}:" in line]
    assert reported and origin in reported[0], err


def test_leaks_in_files_that_do_not_ship_are_ignored(secrets, tmp_path):
    """Kit tests, benchmarks and instructor-only grader parts may hold reference lines"""
    root = copy_shipped(tmp_path)
    line = next(iter(secrets.lines))
    for rel in ("tests/test_tamper.py", "benchmarks/bench_epoch.py", "grader/release/notes.md", "grader/testing/x.py"):
        append(root / rel, line)
    problems = check_leaks(root, shipped_files(root), secrets)
    assert not [p for p in problems if p.path.startswith(("tests/", "benchmarks/", "grader/release/", "grader/testing/"))]


def test_binary_files_are_skipped_but_size_is_limited(secrets, tmp_path):
    """A binary file is not scanned for text; a shipped file over the size limit is reported"""
    root = tmp_path / "kit"
    line = next(iter(secrets.lines))
    (root / "data").mkdir(parents=True)
    (root / "data" / "tinydigits.npz").write_bytes(b"PK\0\3" + line.encode() + b"\n\0")
    (root / "assignments").mkdir()
    (root / "assignments" / "big.bin").write_bytes(b"\0" * 3_000_000)
    problems = check_leaks(root, shipped_files(root), secrets)
    assert [(p.path, p.line) for p in problems] == [("assignments/big.bin", None)], problems
    assert "MB" in problems[0].message and "limit" in problems[0].message


def test_allowed_entry_suppresses_one_line_and_unused_entries_are_reported(secrets, tmp_path):
    """An ALLOWED (file, line) is not a leak; an entry that matches nothing is reported so the list stays short"""
    root = tmp_path / "kit"
    line = next(iter(secrets.lines))
    append(root / "grader" / "engine" / "forward.py", f"    {line}")
    append(root / "grader" / "engine" / "grade.py", f"    {line}")
    allow = (Allowed("grader/engine/forward.py", line, "public: the contract states this formula"),
             Allowed("grader/cli.py", "nothing like this", "stale"))
    problems = check_leaks(root, shipped_files(root), secrets, allow)
    assert [(p.path, p.line) for p in problems] == [("grader/engine/grade.py", 1), ("grader/cli.py", None)], problems
    assert "matches nothing" in problems[1].message


def test_hidden_identity_keeps_distinctive_names_and_titles(tmp_path):
    """Test names, compound probe names and long titles are secrets; one-word and public API probe names are not"""
    hidden = tmp_path / "hidden_tests"
    hidden.mkdir()
    (hidden / "test_09_x.py").write_text(textwrap.dedent('''\
        def test_weights_decay_towards_zero():
            """Weight decay: parameters shrink by lr * wd * p each step"""
            def decay_probe(tt):
                return {}

            def fit(tt):
                return {}

            def zero_grad(tt):
                return {}

            probe(decay_probe)
            probe(fit)
            probe(zero_grad)


        def test_short():
            """Short title"""


        def helper_not_a_test():
            """Not a test at all, so not a hidden test's title"""
        '''))
    names, titles = hidden_identity(hidden, public_names={"zero_grad"})
    assert set(names) == {"test_weights_decay_towards_zero", "decay_probe", "test_short"}
    probe = names["decay_probe"]
    assert probe.path.endswith("/hidden_tests/test_09_x.py") and probe.line == 3, probe
    assert probe.what == 'probe "decay_probe" of hidden test "test_weights_decay_towards_zero"'
    assert list(titles) == ["Weight decay: parameters shrink by lr * wd * p each step"]


def test_solution_lines_skip_public_and_trivial_lines(tmp_path):
    """A block line that is also plumbing, too short, or a keyword with one name is not a secret"""
    package = tmp_path / "solutions" / "tinytorch"
    package.mkdir(parents=True)
    (package / "m.py").write_text(textwrap.dedent('''\
        def f(x, found):
            """Returns out = np.maximum(x, 0.0) elementwise."""
            ### BEGIN SOLUTION 02 | f | relu
            out = np.maximum(x, 0.0)
            hidden_value = np.clip(x, -1.0, 1.0)
            y = x
            return found
            ### END SOLUTION
        '''))
    lines, public = solution_lines(package)
    assert list(lines) == ["hidden_value = np.clip(x, -1.0, 1.0)"]
    assert lines["hidden_value = np.clip(x, -1.0, 1.0)"] == Origin("solutions/tinytorch/m.py", 5, 'block "f" (Module 02)')
    assert "found" in public
