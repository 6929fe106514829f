"""BlobStore.adopt_file: a file whose SHA-256 is already verified is moved into the store,
not read again; copied (and checked) only across filesystems; and release_file, which puts
it back when what it was adopted for fails."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from core.blobs import (
    BlobDigestMismatch,
    BlobInfo,
    BlobNotFound,
    BlobSizeMismatch,
    BlobStore,
    InvalidBlobId,
)

DATA = b"sealed envelope bytes " * 1000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def spool_file(tmp_path: Path, data: bytes = DATA, name: str = "upload.part") -> Path:
    path = tmp_path / "spool" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def test_adopt_moves_the_file_into_place(store: BlobStore, tmp_path: Path) -> None:
    source = spool_file(tmp_path)
    inode = source.stat().st_ino
    info = store.adopt_file(source, sha(DATA), len(DATA))
    assert info == BlobInfo(sha256=sha(DATA), size=len(DATA))
    assert not source.exists()
    target = store.path_for(sha(DATA))
    assert target.stat().st_ino == inode, "renamed, not copied"
    assert target.read_bytes() == DATA


def test_adopt_accepts_an_upper_case_digest(store: BlobStore, tmp_path: Path) -> None:
    info = store.adopt_file(spool_file(tmp_path), sha(DATA).upper(), len(DATA))
    assert info.sha256 == sha(DATA) and store.exists(sha(DATA))


def test_adopt_is_idempotent_when_the_blob_exists(store: BlobStore, tmp_path: Path) -> None:
    store.put_file(spool_file(tmp_path, name="first.part"))
    stored = store.path_for(sha(DATA))
    inode = stored.stat().st_ino
    second = spool_file(tmp_path, name="second.part")
    assert store.adopt_file(second, sha(DATA), len(DATA)) == BlobInfo(sha256=sha(DATA), size=len(DATA))
    assert not second.exists(), "the duplicate source is removed"
    assert stored.stat().st_ino == inode and stored.read_bytes() == DATA


def test_a_wrong_size_is_refused_and_the_file_left_alone(store: BlobStore, tmp_path: Path) -> None:
    source = spool_file(tmp_path)
    with pytest.raises(BlobSizeMismatch, match=f"{len(DATA)} bytes, not the announced {len(DATA) + 1}"):
        store.adopt_file(source, sha(DATA), len(DATA) + 1)
    assert source.read_bytes() == DATA
    assert not store.exists(sha(DATA))


def test_a_bad_digest_is_refused_before_the_file_is_touched(store: BlobStore, tmp_path: Path) -> None:
    source = spool_file(tmp_path)
    with pytest.raises(InvalidBlobId):
        store.adopt_file(source, "../../etc/passwd", len(DATA))
    assert source.read_bytes() == DATA


def test_a_missing_source_is_an_error(store: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        store.adopt_file(tmp_path / "gone.part", sha(DATA), len(DATA))


def _rename_across_devices(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """os.replace in core.blobs fails as a rename between filesystems does."""
    import core.blobs

    real_replace = os.replace
    refused: list[tuple[str, str]] = []

    def replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        if "spool" in str(source):
            refused.append((str(source), str(target)))
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(source, target)  # the temp file's commit inside the store

    monkeypatch.setattr(core.blobs.os, "replace", replace)
    return refused


def test_across_filesystems_the_file_is_copied_then_removed(store: BlobStore, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    refused = _rename_across_devices(monkeypatch)
    source = spool_file(tmp_path)
    inode = source.stat().st_ino
    info = store.adopt_file(source, sha(DATA), len(DATA))
    assert refused, "the rename was tried first"
    assert info == BlobInfo(sha256=sha(DATA), size=len(DATA))
    assert not source.exists()
    assert store.path_for(sha(DATA)).read_bytes() == DATA
    assert store.path_for(sha(DATA)).stat().st_ino != inode


def test_across_filesystems_the_copy_is_checked(store: BlobStore, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _rename_across_devices(monkeypatch)
    tampered = DATA[:-1] + b"X"
    source = spool_file(tmp_path, tampered)
    with pytest.raises(BlobDigestMismatch):
        store.adopt_file(source, sha(DATA), len(DATA))
    assert source.read_bytes() == tampered, "left where it was"
    assert not store.exists(sha(DATA)) and not store.exists(sha(tampered))


def test_other_rename_errors_are_not_hidden(store: BlobStore, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import core.blobs

    def replace(source: object, target: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(core.blobs.os, "replace", replace)
    source = spool_file(tmp_path)
    with pytest.raises(PermissionError):
        store.adopt_file(source, sha(DATA), len(DATA))
    assert source.read_bytes() == DATA and not store.exists(sha(DATA))


def test_release_puts_an_adopted_file_back(store: BlobStore, tmp_path: Path) -> None:
    source = spool_file(tmp_path)
    store.adopt_file(source, sha(DATA), len(DATA))
    store.release_file(sha(DATA), source)
    assert source.read_bytes() == DATA and not store.exists(sha(DATA))
    with pytest.raises(BlobNotFound):
        store.release_file(sha(DATA), source)


def test_release_across_filesystems_copies_then_removes(store: BlobStore, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    source = spool_file(tmp_path)
    store.adopt_file(source, sha(DATA), len(DATA))
    import core.blobs

    real = os.replace

    def replace(path: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        if "spool" in str(target):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real(path, target)

    monkeypatch.setattr(core.blobs.os, "replace", replace)
    store.release_file(sha(DATA), source)
    assert source.read_bytes() == DATA and not store.exists(sha(DATA))
