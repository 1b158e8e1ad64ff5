"""Window geometry, written once: every layer, strategy, report and mistake that needs an output size, a padding
or where a window tap reads asks this module (torch.nn.functional's formulas; 'same' as TensorFlow/XLA 'SAME').

Per spatial axis, with input size S, kernel k, stride s, dilation d, padding p_b before and p_a after:

- a window covers ``extent = d·(k − 1) + 1`` positions and starts every s positions;
- outputs ``⌊(S + p_b + p_a − extent) / s⌋ + 1`` (conv, pools); under ``ceil_mode`` the division rounds up, and a
  last window that would start in the right padding is dropped (torch's rule, pools only);
- ``(S + p_b + p_a − extent) mod s`` trailing positions are read by no window (the rows a convolution's input
  gradient adds back after the full correlation);
- 'same': ⌈S/s⌉ outputs, total padding ``max((⌈S/s⌉ − 1)·s + extent − S, 0)``, the odd one after;
- transposed convolution: ``(S − 1)·s − 2p + d·(k − 1) + output_padding + 1``;
- max unpooling (the inverse of a pool's count): ``(S − 1)·s − 2p + k``; upsampling by f: ``S·f``;
- tap a of window i reads input position ``s·i + d·a − p_b``.

>>> window_output_size(5, 3, stride=2, padding=(1, 1))
3
>>> window_count(5, 2, stride=2, ceil_mode=True)
WindowCount(size=5, kernel=2, stride=2, dilation=1, pad_before=0, pad_after=0, ceil_mode=True)
>>> window_count(5, 2, stride=2, ceil_mode=True).out, same_padding(5, 3, stride=2)
(3, (1, 1))
>>> transposed_output_size(3, 3, stride=2, padding=1, output_padding=1)
6
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def extent(kernel: int, dilation: int = 1) -> int:
    """Input positions one window covers: d·(k − 1) + 1."""
    return dilation * (kernel - 1) + 1


@dataclass(frozen=True)
class WindowCount:
    """The output-size arithmetic of one spatial axis, step by step (the reports print these steps)."""

    size: int
    kernel: int
    stride: int = 1
    dilation: int = 1
    pad_before: int = 0
    pad_after: int = 0
    ceil_mode: bool = False

    @property
    def extent(self) -> int:
        return extent(self.kernel, self.dilation)

    @property
    def padded(self) -> int:
        """S + p_b + p_a."""
        return self.size + self.pad_before + self.pad_after

    @property
    def room(self) -> int:
        """The numerator S + p_b + p_a − d·(k − 1) − 1 (+ s − 1 under ceil_mode, to round up)."""
        return self.padded - self.extent + (self.stride - 1 if self.ceil_mode else 0)

    @property
    def counted(self) -> int:
        """⌊room / s⌋ + 1: the windows before torch's ceil_mode rule drops one."""
        return self.room // self.stride + 1

    @property
    def dropped(self) -> bool:
        """Under ceil_mode, whether the last window would start in the right padding (torch drops it)."""
        return self.ceil_mode and (self.counted - 1) * self.stride >= self.size + self.pad_before

    @property
    def last_start(self) -> int:
        """Where the last counted window starts, 0-based in the input (padding before is negative)."""
        return (self.counted - 1) * self.stride - self.pad_before

    @property
    def out(self) -> int:
        """The output size; < 1 when the window does not fit the padded input."""
        # a conditional, not counted - dropped: the proofs build this with SymPy symbols, and Add - bool fails
        return self.counted - 1 if self.dropped else self.counted

    @property
    def fits(self) -> bool:
        """Whether the window's extent fits the padded input."""
        return self.extent <= self.padded

    @property
    def unread(self) -> int:
        """Trailing positions of the padded input no window reaches: (S + p_b + p_a − extent) mod s (no ceil_mode)."""
        return (self.padded - self.extent) % self.stride


def largest_kernel(padded: int, dilation: int = 1) -> int:
    """The largest kernel whose dilated extent fits ``padded`` positions (at least 1, for the strategies)."""
    return max(1, (padded - 1) // dilation + 1)


def window_count(size: int, kernel: int, *, stride: int = 1, dilation: int = 1, padding=(0, 0),
                 ceil_mode: bool = False) -> WindowCount:
    """The :class:`WindowCount` of one axis; ``padding`` an int (both sides) or (before, after)."""
    before, after = (padding, padding) if isinstance(padding, int) else padding
    return WindowCount(size, kernel, stride, dilation, before, after, bool(ceil_mode))


def window_output_size(size: int, kernel: int, *, stride: int = 1, dilation: int = 1, padding=(0, 0),
                       ceil_mode: bool = False) -> int:
    """Outputs of a convolution or pooling along one axis (torch's formula, ceil_mode's dropped window included)."""
    return window_count(size, kernel, stride=stride, dilation=dilation, padding=padding, ceil_mode=ceil_mode).out


def window_counts(size, kernel, stride, dilation, pads, ceil_mode: bool = False) -> tuple[WindowCount, ...]:
    """One :class:`WindowCount` per spatial axis; ``pads`` as (before, after) per axis."""
    return tuple(WindowCount(n, k, s, d, pb, pa, bool(ceil_mode))
                 for n, k, s, d, (pb, pa) in zip(size, kernel, stride, dilation, pads))


def window_output_sizes(size, kernel, stride, dilation, pads, ceil_mode: bool = False) -> tuple[int, ...]:
    """The output size per spatial axis (see :func:`window_counts`)."""
    return tuple(c.out for c in window_counts(size, kernel, stride, dilation, pads, ceil_mode))


def same_padding(size: int, kernel: int, *, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """(before, after) of padding 'same': ⌈S/s⌉ outputs (TensorFlow/XLA 'SAME'; for stride 1 also PyTorch's
    'same'), total max((⌈S/s⌉ − 1)·s + d·(k − 1) + 1 − S, 0), the odd one after (bottom/right)."""
    total = max((-(-size // stride) - 1) * stride + extent(kernel, dilation) - size, 0)
    return total // 2, total - total // 2


def resolve_padding(spec, kernel, dilation, stride, size) -> tuple[tuple[int, int], ...]:
    """(before, after) zero padding per spatial dimension of a padding spec: 'valid', 'same' or ints per axis."""
    if spec == "valid":
        return tuple((0, 0) for _ in kernel)
    if spec == "same":
        return tuple(same_padding(n, k, stride=s, dilation=d) for k, d, s, n in zip(kernel, dilation, stride, size))
    return tuple((p, p) for p in spec)


def transposed_output_size(size: int, kernel: int, *, stride: int = 1, padding: int = 0, output_padding: int = 0,
                           dilation: int = 1) -> int:
    """Outputs of a transposed convolution along one axis: (S − 1)·s − 2p + d·(k − 1) + output_padding + 1."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def unpool_output_size(size: int, kernel: int, *, stride: int, padding: int = 0) -> int:
    """The default output of max unpooling along one axis (torch): (S − 1)·s − 2p + k."""
    return (size - 1) * stride - 2 * padding + kernel


def upsample_output_size(size: int, scale: int) -> int:
    """Outputs of upsampling by an integer factor: S·f."""
    return size * scale


def taps(out: int, kernel: int, *, stride: int = 1, dilation: int = 1, pad_before: int = 0) -> np.ndarray:
    """(out, kernel) int array: the input position s·i + d·a − p_b that tap a of window i reads (may be outside)."""
    return stride * np.arange(out)[:, None] + dilation * np.arange(kernel)[None, :] - pad_before


def reach(out: int, kernel: int, *, stride: int = 1, dilation: int = 1) -> int:
    """Positions of the padded input that ``out`` windows reach: s·(out − 1) + d·(k − 1) + 1."""
    return stride * (out - 1) + extent(kernel, dilation)


def window_starts(out: int, *, stride: int = 1, pad_before: int = 0) -> np.ndarray:
    """(out,) int array: where each window starts, s·i − p_b (tap 0 of :func:`taps`)."""
    return taps(out, 1, stride=stride, pad_before=pad_before)[:, 0]


def tap_position(i, a, *, stride: int = 1, dilation: int = 1, pad_before: int = 0):
    """s·i + d·a − p_b for numbers or symbols (the SymPy rules' read index)."""
    return stride * i + dilation * a - pad_before


__all__ = ["WindowCount", "extent", "largest_kernel", "reach", "resolve_padding", "same_padding", "tap_position", "taps",
           "transposed_output_size", "unpool_output_size", "upsample_output_size", "window_count", "window_starts", "window_counts",
           "window_output_size", "window_output_sizes"]
