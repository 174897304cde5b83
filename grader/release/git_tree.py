"""Read files as one commit of the kit has them, so a release is reproducible from its commit.

    commit = resolve(repo, "HEAD")                       # "4ed73fe..."
    for entry in tree_files(repo, commit): entry.path, entry.executable
    blobs = read_blobs(repo, [e.sha for e in entries])   # sha -> bytes
    export(repo, commit, "solutions", into)              # the folder as the commit has it

Uncommitted edits and untracked files never reach a release this way: another change in
progress in the same checkout cannot leak into (or break) the student repository.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

REGULAR, EXECUTABLE, SYMLINK = "100644", "100755", "120000"


class GitError(RuntimeError):
    """git failed, or the folder is not a git checkout; the message says which command."""


@dataclass(frozen=True)
class TreeEntry:
    path: str            # repo-relative, `/`-separated
    mode: str            # "100644", "100755", "120000" (symlink), "160000" (submodule)
    sha: str

    @property
    def executable(self) -> bool:
        return self.mode == EXECUTABLE


def _git(repo: Path, *args: str, data: bytes | None = None) -> bytes:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], input=data, capture_output=True, check=True).stdout
    except FileNotFoundError as exc:
        raise GitError("git is not installed") from exc
    except subprocess.CalledProcessError as exc:
        raise GitError(f"git {' '.join(args[:3])}: {exc.stderr.decode(errors='replace').strip()}") from exc


def resolve(repo: Path, rev: str) -> str:
    """The full commit id `rev` names in `repo`."""
    return _git(repo, "rev-parse", "--verify", f"{rev}^{{commit}}").decode().strip()


def tree_files(repo: Path, commit: str) -> list[TreeEntry]:
    """Every file of `commit` (recursively), sorted by path."""
    entries = []
    for record in _git(repo, "ls-tree", "-r", "-z", "--full-tree", commit).split(b"\0"):
        if not record:
            continue
        meta, path = record.split(b"\t", 1)
        mode, _kind, sha = meta.decode().split()
        entries.append(TreeEntry(path.decode("utf-8"), mode, sha))
    return sorted(entries, key=lambda e: e.path)


def read_blobs(repo: Path, shas: list[str]) -> dict[str, bytes]:
    """The contents of the blobs `shas`, read with one `git cat-file --batch`."""
    unique = list(dict.fromkeys(shas))
    if not unique:
        return {}
    out = _git(repo, "cat-file", "--batch", data="".join(f"{s}\n" for s in unique).encode())
    blobs: dict[str, bytes] = {}
    pos = 0
    for sha in unique:
        end = out.index(b"\n", pos)
        header = out[pos:end].decode().split()
        if len(header) != 3 or header[0] != sha:
            raise GitError(f"git cat-file: unexpected header {out[pos:end]!r} for {sha}")
        size = int(header[2])
        blobs[sha] = out[end + 1:end + 1 + size]
        pos = end + 1 + size + 1
    return blobs


def export(repo: Path, commit: str, folder: str, into: Path) -> Path:
    """Write `folder` as `commit` has it below `into`; returns into/folder."""
    entries = [e for e in tree_files(repo, commit) if e.path.startswith(f"{folder.rstrip('/')}/")
               and e.mode in (REGULAR, EXECUTABLE)]
    blobs = read_blobs(repo, [e.sha for e in entries])
    for entry in entries:
        dest = into / entry.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(blobs[entry.sha])
    return into / folder
