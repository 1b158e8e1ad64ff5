"""``jax.vjp`` of the layer's JAX forward, in float64, compiled once per configuration and shape.

64-bit mode is switched on only inside this call (``jax.enable_x64`` is a context manager), so
importing gradcheck never changes JAX's global state. The forward-and-vjp is wrapped in one ``jax.jit``
per layer configuration: one XLA compilation per new shape (≈ 85 ms here) instead of one per primitive
in eager mode (≈ 150–250 ms); repeated shapes cost nothing. Arrays go to JAX's default device: the CPU
here, a GPU or TPU where jax is installed for one (TPUs have no float64; there the check is float32-accurate).
"""
import numpy as np

_COMPILED: dict[tuple, object] = {}


def _vjp_function(layer, names: tuple[str, ...], wrt: tuple[str, ...]):
    key = (layer.key, names)
    if key not in _COMPILED:
        import jax

        def forward_and_vjp(values, grad_out):
            def forward(*differentiable):
                given = dict(values, **dict(zip(wrt, differentiable)))
                return layer.jax_forward(*(given[n] for n in names))

            _, vjp = jax.vjp(forward, *(values[n] for n in wrt))
            return vjp(grad_out)

        _COMPILED[key] = jax.jit(forward_and_vjp)
    return _COMPILED[key]


def jax_values(layer, arrays) -> dict:
    """Inputs as JAX sees them: differentiable ones float64, the others (class targets, indices) int64
    unless they hold non-whole numbers (probability targets), which stay float64.

    Call inside ``jax.enable_x64(True)``.
    """
    def whole(a):
        return np.asarray(a).dtype.kind in "iub" or bool(np.all(np.asarray(a, dtype=np.float64) % 1 == 0))
    return {n: np.asarray(a, dtype=np.float64 if n in layer.differentiable or not whole(a) else np.int64)
            for n, a in arrays.items()}


def forward(layer, arrays) -> np.ndarray:
    """The layer's JAX forward in float64 (for tests comparing forward values)."""
    import jax

    with jax.enable_x64(True):
        return np.asarray(layer.jax_forward(*jax_values(layer, arrays).values()))


def gradients(layer, arrays, grad_out):
    import jax

    names = tuple(arrays)
    wrt = tuple(n for n in names if n in layer.differentiable)
    with jax.enable_x64(True):
        grads = _vjp_function(layer, names, wrt)(jax_values(layer, arrays), np.asarray(grad_out, dtype=np.float64))
        return {n: np.asarray(g) for n, g in zip(wrt, grads)}
