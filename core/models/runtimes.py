"""The model store and its runtimes: which models are usable (present *and*
verified, so a truncated or corrupted file counts as missing and the providers
fall back instead of crashing), and the loaders (`onnx_model`, `ncnn_net`,
`tflite_interpreter`) that load a model once per store and hand the same object
to every thread. `get_store` gives the process-wide store for the settings.

ONNX models run on OpenVINO's CPU plugin, in bfloat16 where the CPU computes it
natively (AVX-512 BF16 or AMX) and float32 otherwise (`[models] precision`).
ISNet, our one ONNX model, runs 2.6x faster that way than on onnxruntime, with the
same masks (`benchmarks/results/remove_bg.md` measures both in one run).
"""

from __future__ import annotations

import builtins
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.models.catalogue import FETCH_HINT, MODELS, ModelRow, ModelSpec
from core.models.fetch import FetchReport, Log, ModelFetchError, fetch_models, installed

if TYPE_CHECKING:
    from core.config import Settings


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


class OnnxModel:
    """An ONNX model compiled by OpenVINO for the CPU; `run` is thread-safe.

    Only the graph's first output is computed (ISNet lists its side outputs and
    decoder features after the mask; computing them cost 15 % more).
    `precision` is what the CPU plugin computes in: "bf16" or "f32".
    """

    def __init__(self, compiled: Any, precision: str) -> None:
        self._compiled = compiled
        self.precision = precision

    def run(self, x: np.ndarray) -> np.ndarray:
        """Feed the one input `x` (float32, the model's input shape); return the first output.

        One infer request per call: requests are not thread-safe, the compiled model is.
        """
        request = self._compiled.create_infer_request()
        request.infer({0: x})
        return np.array(request.get_output_tensor(0).data, copy=True)


class ModelStore:
    """The model cache at `root`: presence checks, fetching, listing and loading.

    `threads`: inference threads per model; `precision`: "auto" (bfloat16 where the
    CPU computes it natively, else float32) or "f32", for ONNX models.
    """

    def __init__(self, root: Path, *, threads: int = 2, precision: str = "auto") -> None:
        self.root = Path(root).expanduser()
        self.threads = threads
        self.precision = precision
        self._lock = threading.Lock()
        self._name_locks: dict[str, threading.Lock] = {}
        self._loaded: dict[str, Any] = {}

    # ---- presence
    def spec(self, name: str) -> ModelSpec:
        """The catalogue entry for `name`; KeyError listing the known names otherwise."""
        try:
            return MODELS[name]
        except KeyError:
            raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None

    def paths(self, name: str) -> builtins.list[Path] | None:
        """All files of the model, or None unless every one is present and verified."""
        return installed(self.root, self.spec(name))

    def path(self, name: str) -> Path | None:
        """The model's primary file (onnx / tflite / ncnn .param), if usable."""
        found = self.paths(name)
        return found[0] if found else None

    def list(self) -> builtins.list[ModelRow]:
        """One row per catalogue model: name, runtime, size, licence, source, and whether it is
        present."""
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
        done: Log | None = None,
    ) -> FetchReport:
        """Make the named models (default: all) present and verified; idempotent.
        See `core.models.fetch.fetch_models`."""
        return fetch_models(self.root, names, log, archive_dir=archive_dir, done=done)

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

    def onnx_model(self, name: str) -> OnnxModel | None:
        """The ONNX model compiled by OpenVINO (CPU), or None if not installed."""

        def load(files: builtins.list[Path]) -> OnnxModel:
            import openvino as ov

            core = ov.Core()
            model = core.read_model(str(files[0]))
            if len(model.outputs) > 1:  # compute the first output only
                model = ov.Model([model.outputs[0]], model.get_parameters(), model.friendly_name)
            native = "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
            precision = "bf16" if self.precision == "auto" and native else "f32"
            compiled = core.compile_model(model, "CPU", {
                "INFERENCE_PRECISION_HINT": precision,
                "INFERENCE_NUM_THREADS": self.threads,
                "PERFORMANCE_HINT": "LATENCY",
                # a second worker process on the same cores must not find them pinned
                "ENABLE_CPU_PINNING": False,
            })
            return OnnxModel(compiled, precision)

        model: OnnxModel | None = self._load_once(name, load)
        return model

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

            with _native_stderr_silenced():  # "INFO: Created TensorFlow Lite XNNPACK delegate"
                it = Interpreter(model_path=str(files[0]), num_threads=self.threads)
                it.allocate_tensors()
            return TfliteModel(it)

        model: TfliteModel | None = self._load_once(name, load)
        return model


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null while native code loads a model.

    The LiteRT runtime writes an INFO banner straight to fd 2 (no Python logging and
    no setting turns it off); it is not the user's business. Python's own stderr is
    flushed first and restored after, so nothing of ours is lost.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


_stores: dict[tuple[Path, int, str], ModelStore] = {}
_stores_lock = threading.Lock()


def get_store(settings: Settings) -> ModelStore:
    """The process-wide store for the configured cache directory (memoised per root)."""
    root = settings.models.cache_dir().expanduser().resolve()
    m = settings.models
    key = (root, m.threads, m.precision)
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = ModelStore(root, threads=m.threads, precision=m.precision)
        return store
