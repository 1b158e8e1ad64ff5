"""pytest plugin (entry point ``pytest11``): the ``gradcheck`` fixture.

    def test_my_conv_backward(gradcheck):
        gradcheck.check_backward(my_backward, "conv2d", stride=2)

The checks run with the Hypothesis settings of the active profile (``--hypothesis-profile`` or
``settings.load_profile``), and a failure is reported through pytest's normal output: an
AssertionError holding the minimal failing example, the wrong elements and the named mistake.
"""
from __future__ import annotations

import pytest


class GradcheckFixture:
    """What the ``gradcheck`` fixture provides: the checking half of the public API."""

    def check_backward(self, fn, layer, **kwargs):
        from .check import check_backward
        __tracebackhide__ = True
        check_backward(fn, layer, **kwargs)

    def check_forward(self, fn, layer, **kwargs):
        from .check import check_forward
        __tracebackhide__ = True
        check_forward(fn, layer, **kwargs)

    def verify(self, layer, *inputs, **kwargs):
        from .verify import verify
        return verify(layer, *inputs, **kwargs)

    def layer(self, name, **params):
        from .layers import layer
        return layer(name, **params)


@pytest.fixture
def gradcheck():
    """Check your own backward/forward passes against gradcheck's exact oracles."""
    return GradcheckFixture()
