"""Adapters: check backward passes written in other calling conventions with ``gc.check_backward``.

Each adapter returns ``fn(grad_out, *inputs, **params) -> tuple of gradients``, one per input in the layer's
input order (``gc.layer(name).inputs``), which is what ``check_backward``, ``verify(oracles=[fn])`` and
``gradcheck sweep --backward`` call:

- :func:`cs231n` — ``out, cache = forward(x, w, b, conv_param)`` / ``dx, dw, db = backward(dout, cache)``, the
  convention of the Stanford CS231n assignments (conv, max pooling, affine, ReLU, softmax loss);
- :func:`torch` — the backward torch's autograd computes for a torch callable (a ``torch.nn.functional``
  function, a custom ``autograd.Function.apply``, an ``nn.Module`` instance, a custom kernel);
- :func:`jax` — ``jax.vjp`` of a JAX function (``jax.custom_vjp`` included), in float64.

The returned function knows its layer (``fn.layer``; None when a torch/jax callable was given without one)
and has ``fn.forward(*inputs, **params)`` for ``gc.check_forward``. A configuration the wrapped code cannot
express (a dilation for the CS231n convention, tie splitting for torch's max pooling, ...) raises
:class:`gradcheck.errors.OutOfScope` naming the parameter and what to hold. torch and jax are imported only
when their adapter is called.

>>> import numpy as np, gradcheck as gc
>>> def relu_forward(x):
...     return np.maximum(0, x), x
>>> def relu_backward(dout, cache):
...     return dout * (cache > 0)
>>> gc.check_backward(cs231n(relu_forward, relu_backward), "relu", max_examples=5)
"""
from __future__ import annotations

import copy
import importlib
import inspect
import re
from collections import OrderedDict

import numpy as np

from .errors import ConfigError, OutOfScope
from .layers import REGISTRY
from .layers._params import fmt
from .layers.geometry import window_output_size
from .oracles import jax_oracle


def _name(fn) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


def _out_of_scope(who: str, param: str, value, hold: str, why: str = "") -> OutOfScope:
    return OutOfScope(f"{who} cannot express {param}={fmt(value)}{': ' + why if why else ''}; hold {hold}",
                      parameter=param)


def _configured(layer: str, params: dict, who: str):
    """The layer the check runs, configured with the params it passes; a clear error when they are not its own
    (the adapter was handed to check_backward for another layer)."""
    try:
        return REGISTRY[layer](**params)
    except ConfigError as exc:
        raise ConfigError(f"{who} is an adapter for {layer}, but was called with parameters {params} "
                          f"that {layer} does not take ({exc}); check it with the layer {layer!r}") from None


def _float64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _square(who: str, layer, param: str, hold: str):
    value = layer.params[param]
    if len(set(value)) != 1:
        raise _out_of_scope(who, param, value, hold, "the CS231n convention has one value for both axes")
    return int(value[0])


def _symmetric(who: str, layer, pads, hold: str) -> int:
    """The single pad of the (before, after) pairs per axis, all equal; else OutOfScope."""
    if len({p for pair in pads for p in pair}) != 1:
        raise _out_of_scope(who, "padding", layer.params["padding"], hold,
                            f"it pads {tuple(pads)} (before, after per axis) here, the CS231n convention "
                            "pads every side by the same 'pad'")
    return int(pads[0][0])


# -- CS231n ---------------------------------------------------------------------------------------------
# One entry per layer: how the gradcheck inputs and params become the CS231n call, and how its gradients come
# back in gradcheck's order. A missing bias is passed as zeros: the gradients of x and w do not depend on it.

def _cs231n_conv(who, layer, x, w, b=None):
    for param, default in (("dilation", (1, 1)), ("groups", 1)):
        if layer.params[param] != default:
            raise _out_of_scope(who, param, layer.params[param], f"{param}=1")
    stride = _square(who, layer, "stride", "stride to one int")
    pad = _symmetric(who, layer, layer.pads(w.shape[2:], x.shape[2:]), "padding to one int")
    b = np.zeros(w.shape[0]) if b is None else b
    return (x, w, b, {"stride": stride, "pad": pad}), lambda grads: grads


def _cs231n_max_pool(who, layer, x):
    p = layer.params
    if p["ties"] != "first":
        raise _out_of_scope(who, "ties", p["ties"], "ties='first' (the first maximum, as np.argmax)")
    if p["dilation"] != (1, 1):
        raise _out_of_scope(who, "dilation", p["dilation"], "dilation=1")
    if layer.pads(x.shape[2:]) != ((0, 0), (0, 0)):
        raise _out_of_scope(who, "padding", p["padding"], "padding=0", "CS231n pooling does not pad")
    stride = _square(who, layer, "stride", "stride to one int")
    floor = tuple(window_output_size(n, k, stride=stride) for n, k in zip(x.shape[2:], p["kernel_size"]))
    if layer.out_sizes(x.shape[2:]) != floor:
        raise _out_of_scope(who, "ceil_mode", p["ceil_mode"], "ceil_mode=False",
                            "a window past the edge that CS231n pooling drops")
    pool_param = {"pool_height": p["kernel_size"][0], "pool_width": p["kernel_size"][1], "stride": stride}
    return (x, pool_param), lambda dx: (dx,)


def _cs231n_affine(who, layer, x, w, b=None):
    # CS231n's w is (D, M), torch's linear weight (M, D) is its transpose.
    b = np.zeros(w.shape[0]) if b is None else b
    return (x, np.ascontiguousarray(w.T), b), lambda grads: (grads[0], np.asarray(grads[1]).T, grads[2])


def _cs231n_relu(who, layer, x):
    return (x,), lambda dx: (dx,)


def _class_indices(who, target):
    """softmax_loss(x, y) takes class indices y: one-hot rows become indices, probability rows cannot."""
    target = np.asarray(target)
    if target.ndim == 1:
        return target.astype(np.int64)
    if not (np.isin(target, (0, 1)).all() and (target.sum(axis=1) == 1).all()):
        raise OutOfScope(f"{who} cannot express a target of class probabilities: softmax_loss(x, y) takes class "
                         "indices y; hold the target to class indices or one-hot rows")
    return np.argmax(target, axis=1)


_CS231N = {  # layer -> (call builder, the function-name stem that implies it)
    "conv2d": (_cs231n_conv, "conv"),
    "max_pool2d": (_cs231n_max_pool, "max_pool"),
    "linear": (_cs231n_affine, "affine"),
    "relu": (_cs231n_relu, "relu"),
    "softmax_cross_entropy": (None, "softmax_loss"),
}


def _infer_cs231n_layer(*fns) -> str | None:
    found = set()
    for fn in fns:
        name = _name(fn)
        for layer, (_, stem) in _CS231N.items():
            if re.fullmatch(rf"{stem}\w*" if stem == "softmax_loss"
                            else rf"{stem}_(forward|backward)\w*", name):
                found.add(layer)
    if len(found) > 1:
        raise ConfigError(f"adapters.cs231n: {', '.join(_name(f) for f in fns)} name different layers "
                          f"({', '.join(sorted(found))}); pass the forward and backward of one layer")
    return found.pop() if found else None


def cs231n(forward, backward=None, *, layer: str | None = None):
    """Wrap a CS231n-style layer: ``out, cache = forward(...)`` and ``grads = backward(dout, cache)``.

    Calls, by layer (data as float64, as in the assignments):

    ============================ ===================================================== ========================
    layer                        forward                                                backward returns
    ============================ ===================================================== ========================
    ``conv2d``                   ``forward(x, w, b, {'stride': s, 'pad': p})``          ``dx, dw, db``
    ``max_pool2d``               ``forward(x, {'pool_height', 'pool_width', 'stride'})`` ``dx``
    ``linear``                   ``forward(x, w, b)``, w of shape (D, M) = weight.T     ``dx, dw, db``
    ``relu``                     ``forward(x)``                                         ``dx``
    ``softmax_cross_entropy``    a loss ``softmax_loss(x, y) -> (loss, dx)``, no backward
    ============================ ===================================================== ========================

    The layer is ``layer`` or inferred from the function names (``conv_forward_naive``, ``conv_backward_fast``,
    ``max_pool_forward_naive``, ``affine_forward``, ``relu_backward``, ``softmax_loss``); a lone function is a
    loss. A missing bias is passed as zeros. What the convention cannot express raises OutOfScope: dilation or
    groups other than 1, different strides or paddings per axis or side ('same' is fine where it pads evenly),
    padded or ceil_mode pooling and tie splitting, a cross-entropy with class probabilities or reduction='sum'.
    """
    fns = (forward,) if backward is None else (forward, backward)
    for fn in fns:
        if not callable(fn):
            raise ConfigError(f"adapters.cs231n takes functions; got {fn!r}")
    layer = layer or _infer_cs231n_layer(*fns)
    if layer is None:
        raise ConfigError(f"adapters.cs231n cannot tell the layer of {', '.join(_name(f) for f in fns)} from their "
                          f"names; pass layer= one of {', '.join(_CS231N)}")
    if layer not in _CS231N:
        raise ConfigError(f"adapters.cs231n has no convention for layer={layer!r}; layers: {', '.join(_CS231N)}")
    is_loss = layer == "softmax_cross_entropy"
    if is_loss != (backward is None):
        raise ConfigError(f"adapters.cs231n for {layer}: " + (
            "pass the loss alone, softmax_loss(x, y) -> (loss, dx)" if is_loss
            else "pass the forward and the backward function, cs231n(forward, backward)"))
    who = _name(forward if is_loss else backward)

    def call(inputs, params):
        configured = _configured(layer, params, who)
        if is_loss:
            logits, target = inputs
            if configured.params["reduction"] != "mean":
                raise _out_of_scope(who, "reduction", configured.params["reduction"], "reduction='mean'",
                                    "CS231n losses average over the batch")
            return forward(_float64(logits), _class_indices(who, target)), None
        args, back = _CS231N[layer][0](who, configured, *map(_float64, inputs))
        return forward(*args), back

    def fn(grad_out, *inputs, **params):
        (out, cache), back = call(inputs, params)
        if is_loss:  # softmax_loss returned (loss, dx): dx is dL/dx for dL/dloss = 1, scaled by grad_out here
            dx = cache
            return dx * float(np.asarray(grad_out, dtype=np.float64)), None
        grads = backward(_float64(grad_out), cache)
        grads = back(grads)
        return grads[:len(inputs)]  # no bias given: its gradient (of the zeros passed) is dropped

    def fn_forward(*inputs, **params):
        out, _ = call(inputs, params)[0]
        return out

    return _finish(fn, fn_forward, who, layer)


def _finish(fn, fn_forward, name: str, layer: str | None):
    fn.__name__ = fn.__qualname__ = name
    fn_forward.__name__ = fn_forward.__qualname__ = f"{name} (forward)"
    fn.layer, fn.forward = layer, fn_forward
    return fn


# -- torch ----------------------------------------------------------------------------------------------

def _import(module: str, extra: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"adapters.{module} needs {module}, which is not installed: pip install {extra}") from None


def _torch_pad(torch, x, pads, value=0.0, limit=None):
    """padding= for torch when every axis pads evenly (and, for pooling, within ``limit``, torch's half the
    kernel), else the input padded explicitly: 'same' with an odd total puts the extra row after, which torch's
    symmetric padding argument cannot say, and a dilated pooling window may need more than half its size."""
    if all(b == a for b, a in pads) and (limit is None or all(b <= m for (b, _), m in zip(pads, limit))):
        return x, tuple(b for b, _ in pads)
    flat = [p for pair in reversed(pads) for p in pair]  # F.pad: last axis first
    return torch.nn.functional.pad(x, flat, value=value), (0,) * len(pads)


def _torch_conv(torch, f, layer, x, w, b=None):
    x, padding = _torch_pad(torch, x, layer.pads(tuple(w.shape[2:]), tuple(x.shape[2:])))
    p = layer.params
    return f(x, w, b, stride=p["stride"], padding=padding, dilation=p["dilation"], groups=p["groups"])


def _torch_conv_transpose(torch, f, layer, x, w, b=None):
    p = layer.params
    return f(x, w, b, stride=p["stride"], padding=p["padding"], output_padding=p["output_padding"],
             groups=p["groups"], dilation=p["dilation"])


def _torch_max_pool(torch, f, layer, x):
    p = layer.params
    if p["ties"] != "first":
        raise _out_of_scope(_name(f), "ties", p["ties"], "ties='first'",
                            "torch's max pooling routes the gradient to one maximum")
    x, padding = _torch_pad(torch, x, layer.pads(tuple(x.shape[2:])), value=float("-inf"),
                            limit=[k // 2 for k in p["kernel_size"]])
    return f(x, p["kernel_size"], p["stride"], padding, p["dilation"], ceil_mode=p["ceil_mode"])


def _torch_avg_pool(torch, f, layer, x):
    p = layer.params
    pads = layer.pads(tuple(x.shape[2:]))
    if any(b != a for b, a in pads):
        raise _out_of_scope(_name(f), "padding", p["padding"], "padding to ints or an even 'same'",
                            "avg_pool2d pads both sides alike")
    return f(x, p["kernel_size"], p["stride"], tuple(b for b, _ in pads), ceil_mode=p["ceil_mode"],
             count_include_pad=p["count_include_pad"], divisor_override=p["divisor_override"])


def _torch_softmax(torch, f, layer, x):
    dim = layer.params["dim"]
    return f(x, dim=(1 if x.ndim > 1 else 0) if dim is None else dim)


def _torch_batch_norm(torch, f, layer, x, weight=None, bias=None):
    if x.numel() == x.shape[1]:
        raise OutOfScope(f"{_name(f)} cannot express x of shape {tuple(x.shape)}: torch refuses the batch "
                         "statistics of a single value per channel; hold more than one (a batch or spatial size > 1)")
    return f(x, None, None, weight, bias, training=True, eps=layer.params["eps"])


def _function_apply(torch, fn, who):
    """A custom ``autograd.Function.apply``: torch's apply passes keywords only to positional parameters and
    fills no defaults, so the layer's parameters are bound to ``forward``'s signature and passed in order."""
    signature = inspect.signature(fn.__self__.forward)
    if any(p.kind is p.KEYWORD_ONLY for p in signature.parameters.values()):
        raise ConfigError(f"{who}: {fn.__self__.__name__}.forward has keyword-only parameters, which "
                          "autograd.Function.apply cannot pass; make them positional")

    def call(*tensors, **params):
        try:
            bound = signature.bind(None, *tensors, **params)  # None stands for ctx
        except TypeError as exc:
            raise TypeError(f"{fn.__self__.__name__}.forward{signature} cannot take the inputs and the "
                            f"parameters {sorted(params)}: {exc}") from None
        bound.apply_defaults()
        return fn(*bound.args[1:])
    return call


def _torch_functionals(torch) -> dict:
    """torch callables whose signature differs from gradcheck's layer: (layer, how to call it)."""
    F = torch.nn.functional
    plain = lambda torch, f, layer, *xs: f(*xs)  # noqa: E731
    table = {
        F.conv1d: ("conv1d", _torch_conv), F.conv2d: ("conv2d", _torch_conv),
        F.conv_transpose1d: ("conv_transpose1d", _torch_conv_transpose),
        F.conv_transpose2d: ("conv_transpose2d", _torch_conv_transpose),
        F.max_pool2d: ("max_pool2d", _torch_max_pool), F.avg_pool2d: ("avg_pool2d", _torch_avg_pool),
        F.max_unpool2d: ("max_unpool2d", lambda torch, f, layer, x, indices: f(
            x, indices.long(), layer.params["kernel_size"], layer.params["stride"], layer.params["padding"],
            output_size=layer.params["output_size"])),
        F.interpolate: ("upsample_nearest2d", lambda torch, f, layer, x: f(
            x, scale_factor=tuple(float(s) for s in layer.params["scale_factor"]), mode="nearest")),
        F.linear: ("linear", plain),
        F.relu: ("relu", plain), torch.relu: ("relu", plain),
        F.sigmoid: ("sigmoid", plain), torch.sigmoid: ("sigmoid", plain),
        F.tanh: ("tanh", plain), torch.tanh: ("tanh", plain),
        F.softmax: ("softmax", _torch_softmax), torch.softmax: ("softmax", _torch_softmax),
        torch.flatten: ("flatten", lambda torch, f, layer, x: f(x, **layer.params)),
        F.cross_entropy: ("softmax_cross_entropy", lambda torch, f, layer, z, t: f(
            z, t.long() if t.ndim == 1 else t.double(), reduction=layer.params["reduction"])),
        F.mse_loss: ("mse", lambda torch, f, layer, a, t: f(a, t, reduction=layer.params["reduction"])),
        F.batch_norm: ("batch_norm", _torch_batch_norm),
    }
    return table


_TORCH_MODULES = {  # torch.nn modules and the layer they compute, when adapters.torch is given no layer=
    "Conv1d": "conv1d", "Conv2d": "conv2d", "ConvTranspose1d": "conv_transpose1d",
    "ConvTranspose2d": "conv_transpose2d", "MaxPool2d": "max_pool2d", "AvgPool2d": "avg_pool2d",
    "MaxUnpool2d": "max_unpool2d", "Linear": "linear", "ReLU": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh",
    "Softmax": "softmax", "Flatten": "flatten", "MSELoss": "mse", "CrossEntropyLoss": "softmax_cross_entropy",
}


def _module_call(torch, module, who):
    """An nn.Module: its parameters (weight, bias, in order) replaced by the inputs after the first; the
    layer's parameters that the module stores under the same name (stride, padding, ...) must match."""
    def call(layer, x, *params):
        for name, value in (layer.params if layer else {}).items():
            have = getattr(module, name, None)
            if have is None:
                continue
            have = tuple(have) if isinstance(have, (tuple, list)) else have
            if isinstance(have, str):  # padding='same'/'valid'; gradcheck's pools store 'valid' as zeros
                have = (0,) * len(value) if have == "valid" and isinstance(value, tuple) else have
            elif isinstance(value, tuple) and not isinstance(have, tuple):
                have = (have,) * len(value)
            if have != value:
                raise _out_of_scope(who, name, value, f"{name}={fmt(have)}, the module's own")
        if layer is not None and layer.params.get("ties", "first") != "first":
            raise _out_of_scope(who, "ties", layer.params["ties"], "ties='first'",
                                "torch's max pooling routes the gradient to one maximum")
        own = dict(module.named_parameters(recurse=False))
        replaced = dict(zip(("weight", "bias"), params))
        for name in set(replaced) - set(own):
            raise _out_of_scope(who, "bias" if name == "bias" else "inputs", True, f"{name}=False",
                                f"the module has no {name}")
        if "bias" in own and "bias" not in replaced and len(params) == 1:
            replaced["bias"] = torch.zeros(params[0].shape[0], dtype=torch.float64)  # dx, dw do not depend on it
        return torch.func.functional_call(module, replaced, (x,))
    return call


def torch(fn, *, layer: str | None = None):
    """The backward torch's autograd computes for ``fn``, on float64 tensors holding the drawn data.

    ``fn`` is a ``torch.nn.functional`` function (its parameters are mapped: ``F.interpolate`` is
    upsample_nearest2d, ``F.cross_entropy`` softmax_cross_entropy, ``F.mse_loss`` mse, 'same' padding is padded
    explicitly), an ``nn.Module`` instance (weight and bias replaced by the inputs after the first; its stored
    stride, padding, ... must equal the layer's, else OutOfScope), or any other callable — a custom
    ``autograd.Function.apply`` or kernel — called as ``fn(*inputs, **params)`` with gradcheck's parameters.
    ``layer`` names the gradcheck layer when it cannot be known from ``fn``: then its non-differentiable
    inputs (class targets, pooling indices) are passed as int64 tensors; otherwise every input is float64 and
    requires grad. Gradients torch returns as None are zeros. On a check's tiny tensors torch's intra-op threads
    cost more than they give: ``torch.set_num_threads(1)`` before checking (not done here: it is global state).
    """
    torch_ = _import("torch", "torch")
    known = _torch_functionals(torch_).get(fn) if _hashable(fn) else None
    if layer is not None and layer not in REGISTRY:
        raise ConfigError(f"adapters.torch: unknown layer {layer!r}; registered layers: {', '.join(sorted(REGISTRY))}")
    if known and layer not in (None, known[0]):
        raise ConfigError(f"adapters.torch: {_name(fn)} computes {known[0]}, not {layer}")
    if isinstance(fn, torch_.nn.Module) and layer is None:
        layer = next((name for cls, name in _TORCH_MODULES.items()
                      if isinstance(fn, getattr(torch_.nn, cls, ()))), None)
    layer = known[0] if known else layer
    owner = getattr(fn, "__self__", None)
    who = f"torch {owner.__name__}.apply" if isinstance(owner, type) else f"torch {_name(fn)}"
    plain_call = None
    if known:
        call = lambda configured, *xs: known[1](torch_, fn, configured, *xs)  # noqa: E731
    elif isinstance(fn, torch_.nn.Module):
        call = _module_call(torch_, copy.deepcopy(fn).double(), who)  # float64 buffers too; the caller's stays
    elif isinstance(owner, type) and issubclass(owner, torch_.autograd.Function):
        call, plain_call = None, _function_apply(torch_, fn, who)
    elif callable(fn):
        call, plain_call = None, fn
    else:
        raise ConfigError(f"adapters.torch takes a torch callable or nn.Module; got {fn!r}")

    def run(inputs, params, grad_out=None):
        configured = _configured(layer, params, who) if layer else None
        wrt = _differentiable(configured, len(inputs))
        tensors = [torch_.tensor(_float64(a), requires_grad=True) if d else torch_.as_tensor(np.asarray(a))
                   for a, d in zip(inputs, wrt)]
        out = call(configured, *tensors) if call else plain_call(*tensors, **params)
        if not isinstance(out, torch_.Tensor):
            raise TypeError(f"{who} returned {type(out).__name__}, not one tensor")
        if grad_out is None:
            return out.detach().numpy()
        g = torch_.as_tensor(_float64(grad_out))
        if tuple(out.shape) != tuple(g.shape):
            raise ValueError(f"{who} returned shape {tuple(out.shape)}, but the layer's output has shape "
                             f"{tuple(g.shape)}")
        needed = [t for t in tensors if t.requires_grad]
        grads = iter(torch_.autograd.grad(out, needed, g, allow_unused=True))
        result = []
        for t in tensors:
            gr = next(grads) if t.requires_grad else None
            result.append(None if not t.requires_grad else
                          np.zeros(tuple(t.shape)) if gr is None else gr.detach().numpy().astype(np.float64))
        return tuple(result)

    def fn_backward(grad_out, *inputs, **params):
        return run(inputs, params, grad_out)

    def fn_forward(*inputs, **params):
        return run(inputs, params)

    return _finish(fn_backward, fn_forward, who, layer)


def _hashable(fn) -> bool:
    try:
        hash(fn)
    except TypeError:
        return False
    return True


def _differentiable(layer, count: int) -> list[bool]:
    if layer is None:
        return [True] * count
    return [name in layer.differentiable for name in layer.inputs[:count]]


# -- JAX ------------------------------------------------------------------------------------------------

def jax(fn, *, layer: str | None = None):
    """``jax.vjp`` of ``fn(*inputs, **params)`` in float64 (64-bit mode switched on for the call only).

    ``fn`` is any JAX-traceable function, e.g. one with a ``jax.custom_vjp`` backward: that backward is what
    gets checked. Parameters are passed as gradcheck's (tuples per axis). ``layer``, when given, keeps the
    layer's non-differentiable inputs (class targets, indices) as int64 arrays outside the VJP.
    """
    if not callable(fn):
        raise ConfigError(f"adapters.jax takes a JAX function; got {fn!r}")
    if layer is not None and layer not in REGISTRY:
        raise ConfigError(f"adapters.jax: unknown layer {layer!r}; registered layers: {', '.join(sorted(REGISTRY))}")
    who = f"jax {_name(fn)}"
    programs: OrderedDict = OrderedDict()  # one compiled VJP per parameters and shapes, as the jax oracle keeps

    def program(jax_, params, values, wrt, grad_out):
        def forward_and_vjp(values, g):
            def differentiable(*xs):
                given = iter(xs)
                return fn(*(next(given) if d else v for v, d in zip(values, wrt)), **params)

            out, vjp = jax_.vjp(differentiable, *(v for v, d in zip(values, wrt) if d))
            if out.shape != g.shape:
                raise ValueError(f"{who} returned shape {tuple(out.shape)}, but the layer's output has shape "
                                 f"{g.shape}")
            return vjp(g.astype(out.dtype))

        # the platform too, as the oracle's: with device= a program compiled for one device is not run on another
        key = (tuple(sorted(params.items())), wrt, tuple((v.shape, v.dtype.str) for v in values), grad_out.shape,
               jax_oracle.platform())
        return jax_oracle.compiled(programs, key, forward_and_vjp, values, grad_out, max_size=256)

    def run(inputs, params, grad_out=None):
        jax_ = _import("jax", "jax jaxlib")
        configured = _configured(layer, params, who) if layer else None
        wrt = tuple(_differentiable(configured, len(inputs)))
        x64 = getattr(jax_, "enable_x64", None)  # a config State (no truth value): older jax has it elsewhere
        if x64 is None:
            x64 = importlib.import_module("jax.experimental").enable_x64
        with x64(True):
            values = [_float64(a) if d else np.asarray(a) for a, d in zip(inputs, wrt)]
            if grad_out is None:
                return np.asarray(fn(*values, **params))
            g = _float64(grad_out)
            grads = iter(program(jax_, params, values, wrt, g)(values, g))
            return tuple(np.asarray(next(grads), dtype=np.float64) if d else None for d in wrt)

    def fn_backward(grad_out, *inputs, **params):
        return run(inputs, params, grad_out)

    def fn_forward(*inputs, **params):
        return run(inputs, params)

    return _finish(fn_backward, fn_forward, who, layer)


__all__ = ["cs231n", "jax", "torch"]
