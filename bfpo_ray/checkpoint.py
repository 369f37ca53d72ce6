"""Checkpoint files: atomic directories (and single files), safetensors state, retention, discovery.

Training state (optimizer, scheduler, RNG, trainer position) is stored without pickle:
every tensor goes into a ``.safetensors`` file and the rest of the nested structure into a
``.json`` file that refers to the tensors by key. A checkpoint directory is written under a
temporary name and renamed into place, so a crash never leaves a half-written
``step-*`` directory behind and the previous checkpoints stay intact.

The last file written into a directory, just before the rename, is ``MANIFEST.json``: the
size and SHA-256 of every other file. It is the completeness marker: :func:`verify_directory`
checks it, and :func:`latest_checkpoint` skips (with a warning) a checkpoint that fails the
check, so a torn file never reaches a resume while an intact older checkpoint exists.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

log = logging.getLogger(__name__)

_STEP_DIR = re.compile(r"^step-(\d+)$")
_STALE = re.compile(r"^\.step-\d+\.(tmp|old|sharded)|^\.publish\.tmp")
MANIFEST = "MANIFEST.json"
_TENSOR = "__tensor__"
_TUPLE = "__tuple__"


def _flatten(obj: Any, tensors: dict[str, torch.Tensor], path: str) -> Any:
    if isinstance(obj, torch.Tensor):
        tensors[path] = obj.detach().cpu().contiguous()
        return {_TENSOR: path}
    if isinstance(obj, dict):
        return {"__dict__": [[_flatten(k, tensors, f"{path}.k{i}"), _flatten(v, tensors, f"{path}.{i}")]
                             for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, tuple):
        return {_TUPLE: [_flatten(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_flatten(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot store object of type {type(obj).__name__} at {path} without pickle")


def _unflatten(node: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(node, dict):
        if _TENSOR in node:
            return tensors[node[_TENSOR]]
        if _TUPLE in node:
            return tuple(_unflatten(v, tensors) for v in node[_TUPLE])
        return {_unflatten(k, tensors): _unflatten(v, tensors) for k, v in node["__dict__"]}
    if isinstance(node, list):
        return [_unflatten(v, tensors) for v in node]
    return node


def save_state(obj: Any, directory: Path, name: str) -> None:
    """Write a nested structure of tensors and plain values as NAME.safetensors + NAME.json."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(obj, tensors, "s")
    save_file(tensors, str(directory / f"{name}.safetensors"))
    (directory / f"{name}.json").write_text(json.dumps(skeleton))


def load_state(directory: Path, name: str) -> Any:
    """Inverse of :func:`save_state`."""
    tensors = load_file(str(directory / f"{name}.safetensors"))
    return _unflatten(json.loads((directory / f"{name}.json").read_text()), tensors)


def rng_state() -> dict[str, Any]:
    """The RNG state of torch and Python's ``random``."""
    return {"torch": torch.get_rng_state(), "python": random.getstate()}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


@contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``final``; on success rename it to ``final``."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        write_manifest(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old)
    else:
        tmp.rename(final)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary sibling renamed into place: a reader (or a crash) sees
    the old file or the new one, never a torn one."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(directory: Path) -> None:
    """Write ``MANIFEST.json`` (size + SHA-256 of every file below ``directory``), flushed to disk."""
    entries = {str(p.relative_to(directory)): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
               for p in _files(directory)}
    with (directory / MANIFEST).open("w") as f:
        json.dump({"files": entries}, f, indent=1)
        f.flush()
        os.fsync(f.fileno())


_VERIFIED: set[tuple] = set()  # (directory, every file's name, size and mtime) already checked in this process


def verify_directory(directory: Path) -> str | None:
    """None when ``directory`` matches its ``MANIFEST.json``, else what is wrong (one phrase naming the file)."""
    directory = Path(directory)
    manifest = directory / MANIFEST
    if not manifest.is_file():
        return f"{directory} has no {MANIFEST} (its save did not finish)"
    key = (str(directory.resolve()), *((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in _files(directory)))
    if key in _VERIFIED:
        return None
    problem = _check_manifest(directory, manifest)
    if problem is None:
        _VERIFIED.add(key)
    return problem


def _check_manifest(directory: Path, manifest: Path) -> str | None:
    try:
        entries = json.loads(manifest.read_text())["files"]
    except (ValueError, KeyError) as err:
        return f"{manifest} is unreadable ({err})"
    for name, expected in entries.items():
        path = directory / name
        if not path.is_file():
            return f"{path} is missing"
        if path.stat().st_size != expected["bytes"]:
            return f"{path} has {path.stat().st_size} bytes, {expected['bytes']} were written"
        if _sha256(path) != expected["sha256"]:
            return f"{path} does not match its checksum"
    return None


def remove_stale(root: Path) -> list[Path]:
    """Delete leftovers of killed saves (``.step-*.tmp-*``, ``.step-*.old-*``, ``.publish.tmp``) under ``root``."""
    root = Path(root)
    if not root.is_dir():
        return []
    stale = [p for p in root.iterdir() if p.is_dir() and _STALE.match(p.name)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def step_dir(root: Path, step: int) -> Path:
    return Path(root) / f"step-{step:08d}"


def list_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``root`` as (step, path), oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _STEP_DIR.match(p.name))]
    return sorted(found)


def latest_checkpoint(root: Path) -> Path | None:
    """The newest checkpoint under ``root`` that passes :func:`verify_directory`; newer broken ones are
    skipped with a warning."""
    for _, path in reversed(list_checkpoints(root)):
        problem = verify_directory(path)
        if problem is None:
            return path
        log.warning("skipping checkpoint %s: %s", path.name, problem)
    return None


def prune_checkpoints(root: Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` checkpoints."""
    for _, path in list_checkpoints(root)[:-keep_last]:
        shutil.rmtree(path)


def publish_files(source: Path, destination: Path) -> None:
    """Move every file of ``source`` into ``destination`` with atomic per-file renames."""
    destination.mkdir(parents=True, exist_ok=True)
    (Path(source) / MANIFEST).unlink(missing_ok=True)  # a model directory is checked by its loaders instead
    for item in sorted(Path(source).iterdir()):
        os.replace(item, destination / item.name)
    Path(source).rmdir()
