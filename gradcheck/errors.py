"""The errors gradcheck raises for bad input. Each names what was wrong, the value, and what is allowed."""


class GradcheckError(ValueError):
    """Base class of every error gradcheck raises on purpose."""


class ConfigError(GradcheckError):
    """A layer parameter (or a parameter/shape combination) is not allowed."""


class InputError(GradcheckError):
    """An input array is malformed: wrong rank or shape, not numeric, NaN or infinite."""


class OutOfScope(GradcheckError):
    """The code under test cannot express this configuration (an adapter's calling convention has no way to
    pass, say, groups or asymmetric padding). Raised by adapters; ``check_backward`` turns it into one error
    telling the user which parameter to hold, instead of reporting a wrong gradient."""

    def __init__(self, message: str, parameter: str | None = None):
        super().__init__(message)
        self.parameter = parameter  # the layer parameter to hold (or narrow with where=), when one is known


class ReportError(RuntimeError):
    """A derivation report contradicts its own oracles (an identity, a worked window or the output-size arithmetic
    disagrees with the SymPy rule): a bug in gradcheck, never bad input. The report is refused, not printed
    wrong; raised explicitly, so the checks also run under ``python -O`` (which strips ``assert``)."""
