"""Proofs for every shape: the backward identities of conv1d/conv2d (groups), conv_transpose1d/2d, avg_pool2d and
max_pool2d, derived from each layer's own forward rule with symbolic sizes, strides, paddings and dilations.

>>> import gradcheck as gc
>>> p = gc.prove("conv1d")
>>> p.ok, all(s.checked for s in p.steps)
(True, True)
>>> gc.prove("conv1d", claim="no_rotation").failed_step
'dL/dX: full correlation of the dilated dL/dO with the rotated filter, cropped: reverse the filter'

The rewrite engine is ``engine.py`` (terms, rules, side conditions, exact evaluation); one module per proof family.
"""

from __future__ import annotations

import functools
import sys
import types

from ..errors import ConfigError
from .proof import CLAIMS, Claim, Proof, Step, claim_of

PROVABLE = ("conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "avg_pool2d", "max_pool2d")


def prove(name: str, claim="textbook", *, seed: int = 0, instances: int = 3, ties: str = "first") -> Proof:
    """The proof of ``name``'s backward identities for every shape (``p.steps``, each ``.checked``; ``p.ok``).

    ``claim``: "textbook" (the true forms), "no_rotation" or "no_stride_dilation" (classic mistakes, which fail at a
    named step: ``p.failed_step``), or a :class:`Claim`. ``ties``: max_pool2d's tie rule, "first" or "split".
    ``instances`` seeded random configurations (``seed``) on which the claimed forms are evaluated and compared exactly
    with the sympy oracle."""
    if name not in PROVABLE:
        raise ConfigError(f"no proof for layer {name!r}: proofs exist for {', '.join(PROVABLE)}")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ConfigError(f"seed={seed!r} is not allowed: it must be an int in 0..2**32 - 1")
    if not isinstance(instances, int) or isinstance(instances, bool) or not 1 <= instances <= 20:
        raise ConfigError(f"instances={instances!r} is not allowed: it must be an int in 1..20")
    if ties not in ("first", "split") or (ties != "first" and name != "max_pool2d"):
        raise ConfigError(f"ties={ties!r} is not allowed for {name}: ties is max_pool2d's tie rule, 'first' or 'split'")
    return _prove(name, claim_of(claim), seed, instances, ties)


@functools.lru_cache(maxsize=32)
def _prove(name: str, claim: Claim, seed: int, instances: int, ties: str) -> Proof:
    """Proofs are deterministic (seeded instances): each is built once per process."""
    if name in ("conv1d", "conv2d"):
        from .conv import prove_conv

        return prove_conv(name, claim, seed, instances)
    if name in ("conv_transpose1d", "conv_transpose2d"):
        from .conv_transpose import prove_conv_transpose

        return prove_conv_transpose(name, claim, seed, instances)
    from .pool import prove_pool

    return prove_pool(name, claim, seed, instances, ties)


__all__ = ["CLAIMS", "PROVABLE", "Claim", "Proof", "Step", "prove"]


class _CallableModule(types.ModuleType):
    """``gc.prove("conv2d")``: the package is callable, so that the public name ``gradcheck.prove`` is both this
    package (``gradcheck.prove.Claim``) and the function (importing a submodule rebinds the package attribute)."""

    def __call__(self, name: str, claim="textbook", **kwargs) -> Proof:
        return prove(name, claim, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
