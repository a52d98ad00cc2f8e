"""A readable layer table: every block with its output shape and parameter counts."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .blocks import (
    ChannelAttention,
    SandglassA,
    SandglassB,
    SandglassC,
    TransposedSandglassC,
)
from .registry import count_parameters

#: Modules listed as one row each; anything else is listed when it is a leaf of the top level.
BLOCK_TYPES: tuple[type[nn.Module], ...] = (SandglassA, SandglassB, SandglassC, TransposedSandglassC)


@dataclass
class SummaryRow:
    """One row of the table."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    keras_params: int
    attention: str


def _rows_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    picked: list[tuple[str, nn.Module]] = []
    for name, module in model.named_modules():
        if isinstance(module, BLOCK_TYPES):
            picked.append((name, module))
    covered = {id(m) for _, m in picked}
    for name, module in model.named_children():
        if id(module) not in covered and not any(n.startswith(name + ".") for n, _ in picked):
            picked.append((name, module))
    return picked


def _attention_of(module: nn.Module) -> str:
    for child_name in ("attn_start", "attn_end"):
        child = getattr(module, child_name, None)
        if isinstance(child, ChannelAttention):
            return f"SE {child_name[5:]} {child.channels}->{child.hidden}"
    return "-"


@torch.no_grad()
def summarize(model: nn.Module, input_size: tuple[int, int] = (256, 256), in_channels: int = 3) -> list[SummaryRow]:
    """Run one eval-mode forward pass on zeros and collect a row per block, in execution order."""
    shapes: dict[int, tuple[int, ...]] = {}
    order: list[int] = []
    hooks = []
    modules = _rows_modules(model)
    for _, module in modules:

        def hook(mod: nn.Module, _inp: object, out: torch.Tensor) -> None:
            shapes[id(mod)] = tuple(out.shape)
            order.append(id(mod))

        hooks.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(1, in_channels, *input_size))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    by_id = {id(m): (n, m) for n, m in modules}
    return [
        SummaryRow(
            name=by_id[i][0],
            kind=type(by_id[i][1]).__name__,
            output_shape=shapes[i],
            params=count_parameters(by_id[i][1], "torch"),
            keras_params=count_parameters(by_id[i][1], "keras"),
            attention=_attention_of(by_id[i][1]),
        )
        for i in order
    ]


def format_summary(model: nn.Module, rows: list[SummaryRow], title: str = "") -> str:
    """The table as text, with totals in both conventions (which include unlisted modules too)."""
    header = ("block", "type", "output shape", "params", "keras params", "attention")
    lines = [
        (r.name, r.kind, " x ".join(map(str, r.output_shape[1:])), f"{r.params:,}", f"{r.keras_params:,}", r.attention)
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    numeric = {3, 4}

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    rule = "-" * len(fmt(tuple("-" * w for w in widths)))
    out = [title] if title else []
    out += [fmt(header), rule, *map(fmt, lines), rule]
    out.append(f"total parameters (PyTorch / Keras trainable): {count_parameters(model, 'torch'):,}")
    out.append(f"total parameters (Keras count_params, + BN moving stats): {count_parameters(model, 'keras'):,}")
    return "\n".join(out)
