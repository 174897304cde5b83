"""Batch grading, before any grading: finding submissions in folders, zips and LMS exports,
refusing hostile archives as rows, collecting the module files, ids, duplicates, shards."""
from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from grader.batch.collect import collect, stage
from grader.batch.extract import LIMITS, Limits, Rejected, check_name, dir_members, open_zip, zip_members
from grader.batch.inputs import discover, key_for
from grader.batch.lms import Student, parse_canvas, read_gradescope_metadata
from grader.batch.resume import content_hash
from grader.batch.shard import Shard, ShardError, parse_shard
from grader.paths import assignments_dir

from batch_kit import MODULES, gradescope_metadata, in_folder, make_class, package, undecodable_zip, write_tree, \
    zip_bytes, _zip_with_mode


def _zip_members(data: bytes, limits: Limits = LIMITS):
    handle = open_zip(data, "x.zip")
    return zip_members(handle, handle.infolist(), "x.zip", limits)


@pytest.fixture(scope="module")
def found(tmp_path_factory: pytest.TempPathFactory):
    root = make_class(tmp_path_factory.mktemp("class") / "class")
    return discover([root], MODULES)


def _unit(found, sid: str):
    matches = [u for u in found.units if sid in {s.id for s in u.students}]
    assert len(matches) == 1, f"student {sid}: expected one submission, found {[u.source for u in matches]}"
    return matches[0]


def test_every_student_of_every_export_is_found_once(found) -> None:
    from batch_kit import EXPECTED
    ids = sorted(s.id for u in found.units for s in u.students)
    assert ids == sorted(EXPECTED), f"students found: {ids}"


@pytest.mark.parametrize("sid,needle", [
    ("slip_mo", "'../../outside.py' escapes"), ("abs_ned", "'/etc/cron.d/evil' is an absolute path"),
    ("symlink_ola", "is a symbolic link"), ("fifo_pia", "is a device file or FIFO"),
    ("bomb_quin", "expands 1029× to 20.0 MB (a zip bomb?)"), ("many_rex", "5011 entries, more than the 5000 allowed"),
    ("badname_sol", "names are undecodable"), ("broken_kai", "not a readable zip archive"),
    ("empty_lu", "the archive is empty"), ("nothing_tom", "no tinytorch module files found"),
    ("link_uma", "tinytorch/passwd.py is a symbolic link"),
])
def test_hostile_or_broken_submission_is_refused_with_a_reason_naming_it(found, sid: str, needle: str) -> None:
    unit = _unit(found, sid)
    with pytest.raises(Rejected) as caught:
        collect(unit.members(), unit.source, MODULES)
    assert needle in str(caught.value) and sid in str(caught.value), str(caught.value)


@pytest.mark.parametrize("sid,found_in", [
    ("ref_alice", "tinytorch/"), ("flat_erin", "module files at the top"),
    ("nested_frank", "Documents/hw 3/tinytorch/"), ("zip_grace", "tinytorch/"),
    ("zipflat_heidi", "module files at the top"), ("nestedzip_ivan", "submission.zip › tinytorch/"),
    ("1001", "tinytorch.zip › tinytorch/"), ("1002", "module files at the top"),
    ("2001", "module files at the top"), ("2002", "tinytorch/"), ("3001", "hw/tinytorch.zip › tinytorch/"),
    ("3002", "module files at the top"),
])
def test_module_files_are_found_wherever_they_sit(found, sid: str, found_in: str) -> None:
    unit = _unit(found, sid)
    got = collect(unit.members(), unit.source, MODULES)
    assert got.found_in == found_in and sorted(got.files) == sorted(MODULES) and not got.missing


def test_litter_is_skipped_and_other_files_are_listed_as_ignored(found) -> None:
    got = collect(_unit(found, "nested_frank").members(), "frank", MODULES)
    assert got.junk == 2      # ._tensor.py and .DS_Store; __MACOSX/ and __pycache__/ are not even entered
    names = [m.path for m in _unit(found, "nested_frank").members()]
    assert not any("__MACOSX" in n or "__pycache__" in n for n in names), names
    assert "Documents/notes.txt" in got.ignored
    assert any(i.startswith("old/tinytorch_backup/tensor.py (another copy") for i in got.ignored), got.ignored
    assert any(i.startswith("Documents/hw 3/tinytorch/__init__.py (not a module file") for i in got.ignored)


def test_litter_inside_a_zip_never_counts_as_the_submission() -> None:
    files = {**in_folder("__MACOSX/tinytorch", {f"._{n}": b"\0" for n in MODULES}),
             **in_folder("tinytorch", {n: b"x = 1\n" for n in MODULES}), "tinytorch/.DS_Store": b"\0"}
    got = collect(_zip_members(zip_bytes(files)), "x.zip", MODULES)
    assert got.found_in == "tinytorch/" and got.junk == 9 and got.ignored == []


def test_only_module_files_are_taken_and_the_kits_plumbing_is_used(tmp_path: Path) -> None:
    evil_init = b"raise SystemExit('the student replaced __init__.py')\n"
    members = dir_members(write_tree(tmp_path / "s", in_folder("tinytorch", {**package(), "__init__.py": evil_init,
                                                                              "extra.py": b"x = 1\n"})), "s", LIMITS)
    got = collect(members, "s", MODULES)
    impl = stage(got, tmp_path / "staged", MODULES)
    kit = assignments_dir() / "tinytorch"
    assert (impl / "tinytorch" / "__init__.py").read_bytes() == (kit / "__init__.py").read_bytes()
    assert (impl / "tinytorch" / "_random.py").read_bytes() == (kit / "_random.py").read_bytes()
    assert not (impl / "tinytorch" / "extra.py").exists()
    assert sorted(p.name for p in (impl / "tinytorch").iterdir()) == sorted(MODULES + ("__init__.py", "_random.py"))


def test_a_missing_module_file_is_graded_as_the_stub(found, tmp_path: Path) -> None:
    got = collect(_unit(found, "partial_judy").members(), "judy", MODULES)
    assert got.missing == ["layers.py", "losses.py", "data.py", "autograd.py", "optim.py", "training.py"]
    impl = stage(got, tmp_path / "judy", MODULES)
    assert (impl / "tinytorch" / "optim.py").read_bytes() == (assignments_dir() / "tinytorch" / "optim.py").read_bytes()


def test_canvas_resubmitted_file_takes_the_latest_upload(found) -> None:
    unit = _unit(found, "1002")
    got = collect(unit.members(), unit.source, MODULES)
    assert got.files["tensor.py"] == package()["tensor.py"], "tensor-1.py (attachment 5100) must win over 5002"
    assert any("5002_tensor.py is an older upload of tensor.py" in n for n in unit.notes), unit.notes
    assert "(late)" in unit.source


@pytest.mark.parametrize("name,user,person,late,filename", [
    ("smithjohn_1001_5001_tinytorch.zip", "1001", "smithjohn", False, "tinytorch.zip"),
    ("doejane_LATE_1002_5100_tensor-1.py", "1002", "doejane", True, "tensor.py"),
    ("doejane_1002_5101_my_notes_2_3.txt", "1002", "doejane", False, "my_notes_2_3.txt"),
    ("anon_x7Kq2_5200_tinytorch.zip", "anon_x7Kq2", "", False, "tinytorch.zip"),
    ("LATE_anon_Ab12_5201_data-2.py", "anon_Ab12", "", True, "data.py"),
])
def test_canvas_file_names_parse(name: str, user: str, person: str, late: bool, filename: str) -> None:
    parsed = parse_canvas(name, MODULES)
    assert parsed is not None
    assert (parsed.user, parsed.name, parsed.late, parsed.filename) == (user, person, late, filename)


def test_gradescope_metadata_reads_ruby_symbols_groups_and_ruby_tags() -> None:
    text = gradescope_metadata({"submission_1": [{"name": "A B", "sid": "7", "email": "a@x"},
                                                 {"name": "C D", "sid": "8", "email": "c@x"}]})
    meta = read_gradescope_metadata(text.encode(), "meta")
    people = meta["submission_1"]["submitters"]
    assert [(p["sid"], p["name"], p["email"]) for p in people] == [("7", "A B", "a@x"), ("8", "C D", "c@x")]
    assert meta["submission_1"]["created_at"] == "2026-11-20T18:15:00+00:00"


def test_gradescope_group_is_one_submission_for_all_its_students(found) -> None:
    unit = _unit(found, "2002")
    assert [s.id for s in unit.students] == ["2002", "2003"] and unit.key == "2002+2003"
    assert unit.students[0] == Student("2002", "Lee Ho", "lee@uni.edu")


def test_duplicate_student_id_says_which_sources_collided_and_which_was_graded(found) -> None:
    unit = _unit(found, "2001")
    assert unit.kind == "gradescope"
    note = next(n for n in unit.notes if n.startswith("duplicate student id '2001'"))
    assert "assignment_77_export › submission_9001" in note and "class/2001" in note
    assert note.endswith("graded: " + unit.source + " (the one given last)")
    assert note in found.notes   # the plain folder lost its only student: listed for the summary


def test_moodle_online_text_and_stray_files_are_noted_not_graded(found) -> None:
    assert any("onlinetext" in n and "ignored" in n for n in found.notes)
    assert any("notes.txt: neither a folder nor a .zip" in n for n in found.notes)
    assert _unit(found, "3002").students == (Student("3002", "Team Blue-Ben Ode"),)


@pytest.mark.parametrize("raw,needle", [
    ("../x.py", "escapes"), ("a/../../x.py", "escapes"), ("/etc/passwd", "absolute"), ("C:\\x.py", "absolute"),
    ("a\\..\\x.py", "escapes"), ("bad\x1bname.py", "control characters"), ("bad\udcffname.py", "not valid UTF-8"),
])
def test_unsafe_entry_names_are_refused(raw: str, needle: str) -> None:
    with pytest.raises(Rejected, match=needle):
        check_name(raw, "x.zip")


def test_windows_backslash_names_are_read_as_folders() -> None:
    members = _zip_members(zip_bytes({f"tinytorch\\{n}": b"x = 1\n" for n in MODULES}))
    assert collect(members, "x.zip", MODULES).found_in == "tinytorch/"


def test_an_entry_that_lies_about_its_size_cannot_expand_past_it() -> None:
    members = _zip_members(zip_bytes(in_folder("tinytorch", {"tensor.py": b"x = 1\n" * 1000})))
    with pytest.raises(Rejected, match="more than the 100 bytes allowed"):
        members[0].read(100)


def test_declared_total_size_is_bounded() -> None:
    with pytest.raises(Rejected, match="expands to more than"):
        _zip_members(zip_bytes({"a.bin": bytes(3000), "b.bin": bytes(3000)}), Limits(max_total_bytes=5000))


def test_nested_zips_stop_at_the_depth_limit() -> None:
    inner = zip_bytes(in_folder("tinytorch", {n: b"x = 1\n" for n in MODULES}))
    for _ in range(4):
        inner = zip_bytes({"again.zip": inner})
    with pytest.raises(Rejected, match="no tinytorch module files found"):
        collect(_zip_members(inner), "x.zip", MODULES)


def test_symlink_and_undecodable_archives_raise_rejected_not_crash() -> None:
    small = in_folder("tinytorch", {"tensor.py": b"x = 1\n"})
    with pytest.raises(Rejected, match="symbolic link"):
        _zip_members(_zip_with_mode("tinytorch/l", b"/etc", stat.S_IFLNK | 0o777, small))
    with pytest.raises(Rejected, match="undecodable"):
        _zip_members(undecodable_zip(small))


def test_submission_keys_are_safe_folder_names_and_distinct() -> None:
    assert key_for((Student("2002"), Student("2003"))) == "2002+2003"
    odd = key_for((Student("../../etc"),))
    assert "/" not in odd and not odd.startswith(".")
    assert key_for((Student("a b"),)) != key_for((Student("a_b"),))


def test_content_hash_follows_the_files_and_the_settings() -> None:
    files = {"tensor.py": b"x = 1\n"}
    assert content_hash(files, "s1") == content_hash(dict(files), "s1")
    assert content_hash(files, "s1") != content_hash(files, "s2")
    assert content_hash(files, "s1") != content_hash({"tensor.py": b"x = 2\n"}, "s1")


def test_shards_split_every_key_once_and_stay_put_when_keys_are_added() -> None:
    keys = [f"s{i:04d}" for i in range(400)]
    shards = [Shard(i, 4) for i in range(4)]
    owners = {k: [s.index for s in shards if s.owns(k)] for k in keys}
    assert all(len(v) == 1 for v in owners.values())
    assert all(60 < sum(v == [i] for v in owners.values()) < 140 for i in range(4)), "a very uneven split"
    more = keys + [f"late{i}" for i in range(50)]
    assert all([s.index for s in shards if s.owns(k)] == owners[k] for k in more[:400])


@pytest.mark.parametrize("value,env,expected", [
    ("2/8", {}, Shard(2, 8)), ("auto", {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1",
                                       "SLURM_ARRAY_TASK_COUNT": "4"}, Shard(2, 4)),
    ("auto", {"JOB_COMPLETION_INDEX": "1", "GRADER_SHARDS": "3"}, Shard(1, 3)),
])
def test_shard_from_the_command_line_slurm_or_kubernetes(value: str, env: dict[str, str], expected: Shard) -> None:
    assert parse_shard(value, env) == expected


@pytest.mark.parametrize("value,env,needle", [
    ("8/8", {}, "index must be in"), ("x", {}, "expected I/N"), ("auto", {}, "neither a Slurm job array"),
    ("auto", {"JOB_COMPLETION_INDEX": "0"}, "set GRADER_SHARDS"),
])
def test_bad_shards_are_usage_errors_that_say_why(value: str, env: dict[str, str], needle: str) -> None:
    with pytest.raises(ShardError, match=needle):
        parse_shard(value, env)


def test_gradescope_export_zip_reads_like_its_folder(tmp_path: Path) -> None:
    meta = gradescope_metadata({"submission_5": [{"name": "Zoe", "sid": "55", "email": "z@x"}]})
    data = zip_bytes({"assignment_3_export/submission_metadata.yml": meta.encode(),
                      **in_folder("assignment_3_export/submission_5", {n: b"x = 1\n" for n in MODULES})})
    (tmp_path / "gs.zip").write_bytes(data)
    units = discover([tmp_path / "gs.zip"], MODULES).units
    assert [(u.key, u.kind) for u in units] == [("55", "gradescope")]
    assert collect(units[0].members(), units[0].source, MODULES).found_in == "module files at the top"
