"""The errors gradcheck raises for bad input. Each names what was wrong, the value, and what is allowed."""


class GradcheckError(ValueError):
    """Base class of every error gradcheck raises on purpose."""


class ConfigError(GradcheckError):
    """A layer parameter (or a parameter/shape combination) is not allowed."""


class InputError(GradcheckError):
    """An input array is malformed: wrong rank or shape, not numeric, NaN or infinite."""


class OutOfScope(GradcheckError):
    """A configuration the wrapped code cannot express (a dilation for code without one, ...): the message
    names the parameter and what to hold."""
