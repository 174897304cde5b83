"""The top level of an export, the same whether it is a folder on disk or a zip.

    listing = ZipListing.open(Path("canvas.zip"))     # or DirListing(Path("export/"))
    listing.entries()                                   # [("smithjohn_101_9001_tensor.py", False), ...]
    listing.folder_members("submission_7", LIMITS)      # that folder, checked as one submission
    listing.file_members([("smithjohn_101_9001_tensor.py", "tensor.py")], LIMITS)

LMS readers (lms.py) and input discovery (inputs.py) see only this interface, so a Canvas
download works zipped or unzipped, and a Gradescope export as its zip or as the folder.
Every submission is checked on its own (extract.py): one hostile upload is one rejected row.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from grader.batch.extract import Limits, Member, Rejected, check_name, dir_members, file_member, open_zip, zip_members


class DirListing:
    def __init__(self, root: Path, where: str | None = None) -> None:
        self.root = root
        self.where = where or str(root)

    def entries(self) -> list[tuple[str, bool]]:
        out = []
        for path in sorted(self.root.iterdir(), key=lambda p: p.name):
            out.append((path.name, path.is_dir() and not path.is_symlink()))
        return out

    def sub(self, name: str) -> DirListing:
        return DirListing(self.root / name, f"{self.where}/{name}")

    def read_file(self, name: str, limit: int) -> bytes:
        return file_member(self.root / name, name, self.where).read(limit)

    def folder_members(self, name: str, limits: Limits) -> list[Member]:
        path = self.root / name
        if path.is_symlink():
            raise Rejected(f"{self.where}/{name} is a symbolic link (links are refused)")
        return dir_members(path, f"{self.where}/{name}", limits)

    def file_members(self, pairs: list[tuple[str, str]], limits: Limits) -> list[Member]:
        if len(pairs) > limits.max_entries:
            raise Rejected(f"{self.where}: {len(pairs)} files for one submission, more than {limits.max_entries}")
        return [file_member(self.root / entry, name, f"{self.where}/{entry}") for entry, name in pairs]


class ZipListing:
    """Entries of `handle` under the folder `prefix` ("" for the whole archive)."""

    def __init__(self, handle: zipfile.ZipFile, where: str, prefix: str = "") -> None:
        self.handle = handle
        self.where = where
        self.prefix = prefix

    @classmethod
    def open(cls, path: Path, limits: Limits, where: str | None = None) -> ZipListing:
        handle = open_zip(path, where or str(path))
        if len(handle.infolist()) > limits.max_container_entries:
            raise Rejected(f"{where or path}: {len(handle.infolist())} entries, more than an export may hold "
                           f"({limits.max_container_entries})")
        return cls(handle, where or str(path))

    def _names(self) -> list[tuple[str, zipfile.ZipInfo]]:
        """(path below prefix, info) for every entry under the prefix, '\\' read as '/'."""
        out = []
        for info in self.handle.infolist():
            name = info.filename.replace("\\", "/")
            if name.startswith(self.prefix) and name != self.prefix:
                out.append((name[len(self.prefix):], info))
        return out

    def entries(self) -> list[tuple[str, bool]]:
        top: dict[str, bool] = {}
        for name, info in self._names():
            head, sep, _ = name.partition("/")
            if head:
                top[head] = top.get(head, False) or bool(sep) or info.is_dir()
        return sorted(top.items())

    def sub(self, name: str) -> ZipListing:
        return ZipListing(self.handle, f"{self.where} › {name}", f"{self.prefix}{name}/")

    def _info(self, name: str) -> zipfile.ZipInfo:
        for rel, info in self._names():
            if rel == name:
                return info
        raise Rejected(f"{self.where}: no entry {name!r}")

    def read_file(self, name: str, limit: int) -> bytes:
        info = self._info(name)
        return zip_members(self.handle, [info], self.where, Limits(max_entries=1), strip=self.prefix)[0].read(limit)

    def folder_members(self, name: str, limits: Limits) -> list[Member]:
        folder = f"{self.prefix}{name}/"
        infos = [info for rel, info in self._names() if rel.startswith(name + "/")]
        return zip_members(self.handle, infos, f"{self.where} › {name}", limits, strip=_raw_prefix(infos, folder))

    def file_members(self, pairs: list[tuple[str, str]], limits: Limits) -> list[Member]:
        infos = {rel: info for rel, info in self._names()}
        chosen = [infos[entry] for entry, _ in pairs]
        renamed = {check_name(infos[entry].filename, self.where): name for entry, name in pairs}
        return zip_members(self.handle, chosen, self.where, limits, rename=lambda n: renamed.get(n, n))


def _raw_prefix(infos: list[zipfile.ZipInfo], folder: str) -> str:
    """The folder prefix as spelled in the archive (it may use '\\'), to strip from raw names."""
    for info in infos:
        if info.filename.replace("\\", "/").startswith(folder):
            return info.filename[:len(folder)]
    return folder
