"""polypnet.inference.backends: the OpenVINO and ONNX Runtime backends against torch, int8 within
tolerance and cached, thread settings, and the default backend's fallback to torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from polypnet.experiments.benchmark import ran_one_by_one
from polypnet.inference import backends
from polypnet.inference.backends import Segmenter, default_backend, model_digest, onnx_session_options, resolve_backend


class Tiny(nn.Module):
    """conv-BN-ReLU, a depthwise conv, upsampling and a 1x1 head: the op kinds of the real nets,
    small enough to convert in seconds."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8),
            nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="bilinear"),
            nn.Conv2d(8, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@pytest.fixture(scope="module")
def tiny() -> nn.Module:
    torch.manual_seed(0)
    model = Tiny().eval()
    bn = model.body[1]
    bn.running_mean.uniform_(-0.3, 0.3)
    bn.running_var.uniform_(0.5, 1.5)
    return model


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("POLYPNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(backends.BACKEND_ENV, raising=False)  # tests/conftest.py sets it for the rest
    return tmp_path / "cache"


def _images(n: int, seed: int, shape: tuple[int, ...] = (1, 3, 32, 32)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random(shape, dtype=np.float32) for _ in range(n)]


needs_openvino = pytest.mark.skipif(not backends.backend_available("openvino"), reason="openvino is not installed")


@needs_openvino
@pytest.mark.parametrize("precision, atol", [("fp32", 1e-4), ("bf16", 0.1)])
def test_openvino_matches_torch_at_two_shapes(
    tiny: nn.Module, precision: str, atol: float, private_cache: Path
) -> None:
    seg = Segmenter(tiny, backend="openvino", precision=precision, threads=1)
    for shape in ((1, 3, 32, 32), (2, 3, 48, 64)):  # a second shape compiles a second static graph
        x = torch.rand(*shape)
        with torch.no_grad():
            expected = tiny(x)
        got = seg.logits(x)
        assert got.shape == expected.shape and got.dtype == torch.float32
        torch.testing.assert_close(got, expected, atol=atol, rtol=0)
    assert len(list((private_cache / "openvino").glob("*.xml"))) == 1  # the converted model is cached


@needs_openvino
def test_openvino_runs_a_batch_it_cannot_compile_image_by_image(
    tiny: nn.Module, private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seg = Segmenter(tiny, backend="openvino", precision="fp32", threads=1)
    compile_request, tried = seg.runner.request, []

    def request(shape: tuple[int, ...]) -> object:  # the CPU plugin as seen on an AVX2-only CPU
        tried.append(shape)
        if shape[0] > 1:
            raise RuntimeError("No suitable implementations found")
        return compile_request(shape)

    monkeypatch.setattr(seg.runner, "request", request)
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        expected = tiny(x)
    torch.testing.assert_close(seg.logits(x), expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(seg.logits(x), expected, atol=1e-4, rtol=0)
    assert tried.count((3, 3, 32, 32)) == 1  # a failed batch shape is not compiled again
    assert ran_one_by_one(seg.logits) and not ran_one_by_one(tiny)  # what the benchmark records

    def broken(shape: tuple[int, ...]) -> object:
        raise RuntimeError("broken")

    monkeypatch.setattr(seg.runner, "request", broken)
    with pytest.raises(RuntimeError, match="broken"):  # at batch 1 there is nothing to fall back to
        seg.logits(torch.rand(1, 3, 48, 48))


@needs_openvino
def test_every_openvino_model_shares_the_one_core(tiny: nn.Module, private_cache: Path) -> None:
    first = Segmenter(tiny, backend="openvino", precision="fp32", threads=1)
    second = Segmenter(tiny, backend="openvino", precision="bf16", threads=1)
    assert first.runner.core is second.runner.core is backends.openvino_core()  # never a second Core


@needs_openvino
def test_int8_is_close_to_fp32_and_cached_by_tag(tiny: nn.Module, private_cache: Path) -> None:
    pytest.importorskip("nncf")
    calls = []

    def calibration() -> list[np.ndarray]:
        calls.append(1)
        return _images(16, seed=1)

    seg = Segmenter(tiny, backend="openvino", precision="int8", threads=1, calibration=calibration, calibration_tag="t")
    x = torch.from_numpy(np.concatenate(_images(4, seed=2)))
    with torch.no_grad():
        expected = tiny(x)
    spread = float(expected.max() - expected.min())
    assert float((seg.logits(x) - expected).abs().max()) < 0.1 * spread
    assert len(list((private_cache / "openvino").glob("*-int8-*.xml"))) == 1
    # a second Segmenter with the same weights and tag reads the cache: no calibration needed
    again = Segmenter(tiny, backend="openvino", precision="int8", threads=1, calibration_tag="t")
    torch.testing.assert_close(again.logits(x), seg.logits(x))
    assert calls == [1]


@needs_openvino
def test_int8_without_calibration_or_cache_is_refused(tiny: nn.Module) -> None:
    with pytest.raises(ValueError, match="calibration"):
        Segmenter(tiny, backend="openvino", precision="int8", calibration_tag="never-made")


def test_onnxruntime_matches_torch_with_explicit_threads(tiny: nn.Module, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    seg = Segmenter(tiny, backend="onnxruntime", threads=1, onnx_path=tmp_path / "tiny.onnx")
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(seg.logits(x), tiny(x), atol=1e-4, rtol=0)
    options = onnx_session_options(1)
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_torch_bf16_is_close_to_fp32(tiny: nn.Module) -> None:
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        expected = tiny(x)
    got = Segmenter(tiny, precision="bf16").logits(x)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, atol=0.1, rtol=0)


def test_precisions_a_backend_lacks_are_refused(tiny: nn.Module) -> None:
    with pytest.raises(ValueError, match="runs fp32"):
        Segmenter(tiny, backend="onnxruntime", precision="int8")
    with pytest.raises(ValueError, match="backend must be one of"):
        Segmenter(tiny, backend="tensorrt")


def test_default_falls_back_to_torch_without_openvino(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "backend_available", lambda name: name != "openvino")
    assert default_backend() == ("torch", "fp32")
    assert resolve_backend("auto", "auto") == ("torch", "fp32")


def test_default_is_openvino_on_cpu_and_torch_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "backend_available", lambda name: True)
    monkeypatch.setattr(backends, "cpu_has_bf16", lambda: True)
    assert default_backend("cpu") == ("openvino", "bf16")
    assert default_backend("cuda") == ("torch", "fp32")
    assert resolve_backend("onnxruntime", "auto") == ("onnxruntime", "fp32")
    assert resolve_backend("auto", "int8") == ("openvino", "int8")
    monkeypatch.setattr(backends, "cpu_has_bf16", lambda: False)
    assert resolve_backend() == ("openvino", "fp32")


def test_environment_overrides_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "backend_available", lambda name: True)
    monkeypatch.setenv(backends.BACKEND_ENV, "onnxruntime")
    assert resolve_backend() == ("onnxruntime", "fp32")
    monkeypatch.setenv(backends.BACKEND_ENV, "tensorrt")
    with pytest.raises(ValueError, match="backend must be one of"):
        default_backend()


def test_model_digest_follows_the_weights(tiny: nn.Module) -> None:
    other = Tiny().eval()
    other.load_state_dict(tiny.state_dict())
    assert model_digest(other) == model_digest(tiny)
    with torch.no_grad():
        other.body[0].weight[0, 0, 0, 0] += 1
    assert model_digest(other) != model_digest(tiny)


def test_predictor_on_another_runtime_gives_torch_its_threads_back(
    tiny: nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CPU runtime gets the cores during a call (torch on one thread) and the caller's process keeps
    its thread count before, after and when the call fails."""
    pytest.importorskip("onnxruntime")
    from polypnet.inference.predictor import Predictor

    torch.set_num_threads(2)  # tests/conftest.py restores the count after the test
    predictor = Predictor(tiny, image_size=32, backend="onnxruntime")
    assert predictor.runtime_owns_cores and torch.get_num_threads() == 2
    seen: list[int] = []
    runtime_logits = predictor.segmenter.logits

    def recording(x: torch.Tensor) -> torch.Tensor:
        seen.append(torch.get_num_threads())
        return runtime_logits(x)

    monkeypatch.setattr(predictor.segmenter, "logits", recording)
    image = np.zeros((40, 48, 3), np.uint8)
    assert predictor.predict(image).mask.shape == (40, 48)
    predictor.probabilities(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    assert seen == [1, 1] and torch.get_num_threads() == 2
    with pytest.raises(ValueError, match="RGB"):
        predictor.predict(np.zeros((8, 8), np.uint8))
    assert torch.get_num_threads() == 2
