"""Building blocks for the batch-grading tests: a class of generated submissions in every shape
an instructor meets (folders, zips, flat files, nested zips, Canvas, Gradescope, Moodle) and
every hostile archive the batch must refuse as a row, plus helpers to run `grader grade`."""
from __future__ import annotations

import csv
import io
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

from grader.batch.collect import module_files
from grader.config import load_config
from grader.paths import assignments_dir, repo_root, solutions_dir

CFG = load_config()
MODULES = module_files(CFG)                       # ("tensor.py", ..., "training.py")
PYTHON = sys.executable


def package(base: str = "solutions", *, stubbed: tuple[str, ...] = ()) -> dict[str, bytes]:
    """tinytorch/ as {file name: bytes}: the reference (or the stubs), with `stubbed` files taken from the stubs."""
    ref = (solutions_dir() if base == "solutions" else assignments_dir()) / "tinytorch"
    stubs = assignments_dir() / "tinytorch"
    return {p.name: ((stubs / p.name) if p.name in stubbed else p).read_bytes() for p in sorted(ref.glob("*.py"))}


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def in_folder(folder: str, files: dict[str, bytes]) -> dict[str, bytes]:
    return {f"{folder}/{name}" if folder else name: data for name, data in files.items()}


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buffer.getvalue()


def _zip_with_mode(name: str, data: bytes, mode: int, base: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for n, d in base.items():
            z.writestr(n, d)
        info = zipfile.ZipInfo(name)
        info.create_system = 3
        info.external_attr = mode << 16
        z.writestr(info, data)
    return buffer.getvalue()


def undecodable_zip(base: dict[str, bytes]) -> bytes:
    """A zip whose entry name is flagged UTF-8 but holds the bytes ff fe (no decoder accepts them)."""
    data = zip_bytes({**base, "tinytorch/é.py": b"x = 1\n"})
    return data.replace("é".encode(), b"\xff\xfe")


def gradescope_metadata(entries: dict[str, list[dict[str, str]]]) -> str:
    """submission_metadata.yml as Gradescope writes it: Ruby-symbol keys, one block per submission."""
    lines = ["---"]
    for i, (folder, people) in enumerate(entries.items()):
        lines += [f"{folder}:", "  :submitters:"]
        for p in people:
            lines += [f"  - :name: {p['name']}", f"    :sid: '{p['sid']}'", f"    :email: {p['email']}"]
        lines += [f"  :created_at: 2026-11-2{i} 10:15:00.000000000 -08:00", "  :score: 0.0", "  :status: processed",
                  "  :results: !ruby/hash:ActiveSupport::HashWithIndifferentAccess", "    score: 0.0"]
    return "\n".join(lines) + "\n"


def make_class(root: Path) -> Path:
    """A folder of 20+ submissions in every shape (what each student should get: EXPECTED); returns `root`."""
    ref, stubs = package(), package("assignments")
    no_data = package(stubbed=("data.py",))          # Module 05 left as the stub
    # plain folders and zips
    write_tree(root / "ref_alice", in_folder("tinytorch", ref))
    write_tree(root / "stubs_bob", in_folder("tinytorch", stubs))
    write_tree(root / "mix_carol", in_folder("tinytorch", no_data))
    write_tree(root / "flat_erin", {n: ref[n] for n in MODULES})
    write_tree(root / "nested_frank", {**in_folder("Documents/hw 3/tinytorch", ref), "__MACOSX/Documents/._x": b"\0",
                                       "Documents/hw 3/tinytorch/._tensor.py": b"\0", "Documents/.DS_Store": b"\0",
                                       "Documents/hw 3/tinytorch/__pycache__/tensor.cpython-311.pyc": b"\0",
                                       "Documents/notes.txt": b"my notes\n",
                                       "old/tinytorch_backup/tensor.py": stubs["tensor.py"]})
    (root / "zip_grace.zip").write_bytes(zip_bytes(in_folder("tinytorch", ref)))
    (root / "zipflat_heidi.zip").write_bytes(zip_bytes({n: ref[n] for n in MODULES}))
    (root / "nestedzip_ivan.zip").write_bytes(zip_bytes({"submission.zip": zip_bytes(in_folder("tinytorch", ref)),
                                                         "README.md": b"hi\n"}))
    write_tree(root / "partial_judy", in_folder("tinytorch", {n: ref[n] for n in ("tensor.py", "activations.py")}))
    # Canvas: one flat zip; John uploaded a zip, Jane flat files (tensor.py re-uploaded as tensor-1.py), an anonymous stub
    canvas = {"smithjohn_1001_5001_tinytorch.zip": zip_bytes(in_folder("tinytorch", ref)),
              "doejane_LATE_1002_5002_tensor.py": stubs["tensor.py"]}
    for k, name in enumerate(MODULES):
        canvas[f"doejane_LATE_1002_{5100 + k}_{'tensor-1.py' if name == 'tensor.py' else name}"] = ref[name]
    canvas["anon_x7Kq2_5200_tinytorch.zip"] = zip_bytes(in_folder("tinytorch", stubs))
    (root / "canvas_export.zip").write_bytes(zip_bytes(canvas))
    # Gradescope: metadata with Ruby symbols, a group submission, and student 2001 also as a plain folder (a collision)
    gs = root / "assignment_77_export"
    write_tree(gs / "submission_9001", {n: ref[n] for n in MODULES})
    write_tree(gs / "submission_9002", in_folder("tinytorch", no_data))
    write_tree(gs / "submission_9003", in_folder("tinytorch", stubs))
    (gs / "submission_metadata.yml").write_text(gradescope_metadata({
        "submission_9001": [{"name": "Kim Ng", "sid": "2001", "email": "kim@uni.edu"}],
        "submission_9002": [{"name": "Lee Ho", "sid": "2002", "email": "lee@uni.edu"},
                            {"name": "Pat Park", "sid": "2003", "email": "pat@uni.edu"}],
        "submission_9003": [{"name": "Sam Roe", "sid": "2004", "email": "sam@uni.edu"}]}))
    write_tree(root / "2001", in_folder("tinytorch", stubs))
    # Moodle: folders per participant, a team folder, an online-text folder to ignore
    moodle = root / "moodle_download"
    write_tree(moodle / "Ana Lima_3001_assignsubmission_file_", {"hw/tinytorch.zip": zip_bytes(in_folder("tinytorch", ref))})
    write_tree(moodle / "Team Blue-Ben Ode_3002_assignsubmission_file_", {n: ref[n] for n in MODULES})
    write_tree(moodle / "Ana Lima_3001_assignsubmission_onlinetext_", {"onlinetext.html": b"<p>done</p>"})
    # broken and hostile
    small = in_folder("tinytorch", ref)
    (root / "broken_kai.zip").write_bytes(b"PK\x03\x04 this is not really a zip" * 10)
    (root / "empty_lu.zip").write_bytes(zip_bytes({}))
    (root / "slip_mo.zip").write_bytes(zip_bytes({**small, "../../outside.py": b"print('escaped')\n"}))
    (root / "abs_ned.zip").write_bytes(zip_bytes({**small, "/etc/cron.d/evil": b"* * * * * root true\n"}))
    (root / "symlink_ola.zip").write_bytes(_zip_with_mode("tinytorch/link.py", b"/etc/shadow", stat.S_IFLNK | 0o777, small))
    (root / "fifo_pia.zip").write_bytes(_zip_with_mode("tinytorch/pipe", b"", stat.S_IFIFO | 0o644, small))
    (root / "bomb_quin.zip").write_bytes(zip_bytes({**small, "weights.bin": bytes(20 * 2**20)}))
    (root / "many_rex.zip").write_bytes(zip_bytes({**small, **{f"junk/{i}.txt": b"" for i in range(5001)}}))
    (root / "badname_sol.zip").write_bytes(undecodable_zip(small))
    write_tree(root / "nothing_tom", {"README.md": b"I will submit later\n"})
    write_tree(root / "link_uma", small)
    os.symlink("/etc/passwd", root / "link_uma" / "tinytorch" / "passwd.py")
    (root / "notes.txt").write_text("not a submission\n")
    return root


# What each student's row must say, for targets 01 and 05 (12 + 8 points). None: any score.
FULL, NONE = 20.0, 0.0
EXPECTED: dict[str, object] = {
    "ref_alice": ("graded", FULL), "stubs_bob": ("graded", NONE), "mix_carol": ("graded", 12.0),
    "flat_erin": ("graded", FULL), "nested_frank": ("graded", FULL), "zip_grace": ("graded", FULL),
    "zipflat_heidi": ("graded", FULL), "nestedzip_ivan": ("graded", FULL), "partial_judy": ("graded", 12.0),
    "1001": ("graded", FULL), "1002": ("graded", FULL), "anon_x7Kq2": ("graded", NONE),
    "2001": ("graded", FULL), "2002": ("graded", 12.0), "2003": ("graded", 12.0), "2004": ("graded", NONE),
    "3001": ("graded", FULL), "3002": ("graded", FULL),
    "broken_kai": ("rejected input", NONE), "empty_lu": ("rejected input", NONE), "slip_mo": ("rejected input", NONE),
    "abs_ned": ("rejected input", NONE), "symlink_ola": ("rejected input", NONE), "fifo_pia": ("rejected input", NONE),
    "bomb_quin": ("rejected input", NONE), "many_rex": ("rejected input", NONE), "badname_sol": ("rejected input", NONE),
    "nothing_tom": ("rejected input", NONE), "link_uma": ("rejected input", NONE),
}


def grade_cmd(*args: str) -> list[str]:
    return [PYTHON, "-m", "grader.batch.cli", *args]


def run_grade(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`grader grade ARGS` in a subprocess (progress as plain lines), from the repo root."""
    return subprocess.run(grade_cmd(*args, "--progress", "lines"), capture_output=True, text=True, timeout=timeout,
                          cwd=repo_root())


def read_csv(path: Path, *, times: bool = False) -> list[dict[str, str]]:
    """grades.csv as dicts; without `times`, the timing columns (names ending in 'seconds') are dropped."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [{k: v for k, v in r.items() if times or not k.endswith("seconds")} for r in rows]


def copy_class(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, symlinks=True)
    return dest
