"""IAM-UNet: shapes, the paper preset's parameter counts, the knobs, gradients, memory formats."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from polypnet.models import (
    ChannelAttention,
    IAMUNet,
    SandglassA,
    SandglassB,
    SandglassC,
    SkipBlock,
    TransposedSandglassC,
    count_parameters,
    create_model,
)

PAPER_TORCH_PARAMS = 571_731
PAPER_KERAS_PARAMS = 588_483


@pytest.fixture(scope="module")
def paper() -> IAMUNet:
    return create_model("iam_unet").eval()


def test_paper_preset_parameter_counts(paper: IAMUNet) -> None:
    assert count_parameters(paper) == PAPER_TORCH_PARAMS
    assert count_parameters(paper, "torch") == sum(p.numel() for p in paper.parameters())
    assert count_parameters(paper, "keras") == PAPER_KERAS_PARAMS
    assert count_parameters(paper, "torch", trainable_only=True) == PAPER_TORCH_PARAMS


def test_paper_preset_sanity_numbers_of_the_design(paper: IAMUNet) -> None:
    # architecture.md: the four ConvTranspose2d shortcuts hold 217,328 parameters, the bridge's
    # skip pw(128->256) 33,024 and the head 33.
    convt = sum(count_parameters(stage.shortcut[0]) for stage in paper.decoder)
    assert convt == 217_328
    assert count_parameters(paper.bridge.a.shortcut.conv) == 33_024
    assert count_parameters(paper.head) == 33


def test_paper_preset_structure(paper: IAMUNet) -> None:
    assert [type(b) for b in paper.encoder[0]] == [SandglassA, SandglassB, SandglassC]
    assert [level.a.dw2.stride for level in paper.encoder] == [(1, 1), (2, 2), (2, 2), (2, 2)]
    assert [level.a.expand.out_channels for level in paper.encoder] == [16, 32, 64, 128]
    assert paper.encoder[0].a.shortcut is None  # first block 3 -> 16 at stride 1
    assert all(isinstance(level.a.shortcut, SkipBlock) for level in paper.encoder[1:])
    assert isinstance(paper.bridge.a.shortcut, SkipBlock)
    assert [type(b) for b in paper.bridge] == [SandglassA] + [SandglassB] * 3
    assert [type(s) for s in paper.decoder] == [TransposedSandglassC] * 4
    assert [s.expand.out_channels for s in paper.decoder] == [128, 64, 32, 16]
    assert paper.head.in_channels == 32 and paper.head.out_channels == 1
    # Sandglass bottleneck m = cin // 4, and 1 for the RGB stem.
    assert paper.encoder[0].a.reduce.out_channels == 1
    assert paper.encoder[1].b.reduce.out_channels == 8
    assert paper.decoder[0].reduce.out_channels == 64


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("size", [(16, 16), (64, 96), (256, 256), (160, 48)])
def test_output_shape_is_logits_of_input_size(paper: IAMUNet, batch: int, size: tuple[int, int]) -> None:
    with torch.no_grad():
        out = paper(torch.randn(batch, 3, *size))
    assert out.shape == (batch, 1, *size)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_head_returns_logits_not_probabilities() -> None:
    model = IAMUNet().eval()
    with torch.no_grad():
        model.head.bias.fill_(-5.0)
        out = model(torch.zeros(1, 3, 32, 32))
    assert (out < 0).all()  # a sigmoid inside would make every value positive


@pytest.mark.parametrize("size", [(100, 100), (256, 250), (8, 8)])
def test_sizes_not_multiple_of_16_raise_clear_error(paper: IAMUNet, size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match=rf"{size[0]}x{size[1]}.*multiples of 16"):
        paper(torch.zeros(1, 3, *size))


def test_wrong_channels_or_rank_raise(paper: IAMUNet) -> None:
    with pytest.raises(ValueError, match="expected 3 input channels, got 1"):
        paper(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="4-D"):
        paper(torch.zeros(3, 32, 32))


def _attention_modules(model: nn.Module) -> list[ChannelAttention]:
    return [m for m in model.modules() if isinstance(m, ChannelAttention)]


def test_attention_none_has_no_attention_modules() -> None:
    assert _attention_modules(IAMUNet(attention_position="none")) == []


@pytest.mark.parametrize("position", ["start", "end"])
def test_attention_in_every_b_and_c_block_never_in_a_or_decoder(position: str) -> None:
    model = IAMUNet(attention_position=position)
    bc = [m for m in model.modules() if isinstance(m, (SandglassB, SandglassC))]
    assert len(bc) == 4 * 2 + 3
    for block in bc:
        wanted, other = ("attn_start", "attn_end") if position == "start" else ("attn_end", "attn_start")
        assert isinstance(getattr(block, wanted), ChannelAttention)
        assert not isinstance(getattr(block, other), ChannelAttention)
    for block in model.modules():
        if isinstance(block, (SandglassA, TransposedSandglassC)):
            assert _attention_modules(block) == []
    assert len(_attention_modules(model)) == len(bc)


def test_attention_start_and_end_act_at_different_places() -> None:
    block = SandglassB(16, attention_position="end").eval()
    x = torch.randn(2, 16, 8, 8)
    seen: list[torch.Tensor] = []
    block.attn_end.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    block.dw2.register_forward_hook(lambda m, i, o: seen.append(o))
    block(x)
    assert torch.equal(seen[0], seen[1])  # "end" takes the last depthwise conv's output
    block = SandglassB(16, attention_position="start").eval()
    seen.clear()
    block.attn_start.register_forward_hook(lambda m, i, o: seen.append(o))
    block.reduce.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    block(x)
    assert torch.equal(seen[0], seen[1])  # "start" feeds the pointwise reduction


@pytest.mark.parametrize("ratio", [2, 4, 8])
def test_se_hidden_width_is_channels_over_ratio(ratio: int) -> None:
    modules = _attention_modules(IAMUNet(attention_ratio=ratio))
    assert {m.channels for m in modules} == {16, 32, 64, 128, 256}
    for m in modules:
        assert m.fc1.out_features == m.channels // ratio == m.hidden
        assert m.fc2.in_features == m.channels // ratio


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4])
def test_bridge_depth(n: int) -> None:
    model = IAMUNet(bridge_blocks=n)
    assert len(model.bridge) == 1 + n
    assert sum(isinstance(b, SandglassB) and not isinstance(b, SandglassC) for b in model.bridge) == n
    one_b = count_parameters(SandglassB(256))
    assert count_parameters(model) == PAPER_TORCH_PARAMS + (n - 3) * one_b


def test_bridge_final_c_and_presets() -> None:
    model = create_model("iam_unet_bridge_c")
    assert isinstance(list(model.bridge)[-1], SandglassC)
    assert create_model("iam_unet_t6").encoder[1].b.reduce.out_channels == 32 // 6


@pytest.mark.parametrize("base", [8, 32])
def test_base_width_doubles_per_level(base: int) -> None:
    model = IAMUNet(base_width=base)
    assert [level.a.expand.out_channels for level in model.encoder] == [base * 2**i for i in range(4)]
    assert model.bridge.a.expand.out_channels == base * 16
    assert model.head.in_channels == 2 * base
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 1, 32, 32)


@pytest.mark.parametrize("t", [2, 6])
def test_t_sets_bottleneck_width(t: int) -> None:
    model = IAMUNet(t=t)
    for block in model.modules():
        if isinstance(block, (SandglassA, SandglassB, TransposedSandglassC)):
            assert block.reduce.out_channels == max(1, block.reduce.in_channels // t)


def test_in_and_out_channels() -> None:
    model = IAMUNet(in_channels=1, out_channels=3).eval()
    assert model(torch.zeros(2, 1, 32, 48)).shape == (2, 3, 32, 48)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"attention_position": "middle"}, "attention_position"),
        ({"attention_ratio": 0}, "attention_ratio"),
        ({"bridge_blocks": -1}, "bridge_blocks"),
        ({"base_width": 0}, "base_width"),
    ],
)
def test_bad_knobs_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IAMUNet(**kwargs)


def test_every_parameter_receives_a_gradient() -> None:
    model = IAMUNet().train()
    x = torch.randn(2, 3, 64, 64)
    target = (torch.rand(2, 1, 64, 64) > 0.5).float()
    loss = nn.functional.binary_cross_entropy_with_logits(model(x), target)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} received no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
        if p.dim() > 1:  # weights; a bias right before a BatchNorm legitimately gets ~0
            assert p.grad.abs().sum() > 0, f"{name} has an all-zero gradient"


def test_eval_output_equal_across_nchw_and_channels_last() -> None:
    model = IAMUNet().eval()
    # Random BN statistics so that eval-mode BN is not an identity.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        ref = model(x)
        cl_model = IAMUNet().eval()
        cl_model.load_state_dict(model.state_dict())
        cl = cl_model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(cl, ref, rtol=1e-4, atol=1e-5)
