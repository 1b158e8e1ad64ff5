"""Output-size mistakes, for every sliding-window layer (a ``stride`` parameter: conv, pooling, transposed conv)."""
from . import mistake


@mistake("output_size_formula", ("*",), "output size computed without the + 1 or without the 2P of "
                                        "⌊(W − F + 2P)/S⌋ + 1", kind="shape")
def output_size_formula(layer, arrays, grad_out):
    """Two variants: every spatial size one smaller (the + 1 forgotten), and the size without padding."""
    if "stride" not in layer.params:  # no sliding window (activations, linear, losses): no size formula
        return []
    shapes = {name: a.shape for name, a in arrays.items()}
    right = tuple(layer.output_shape(shapes))
    variants = [{"out_shape": right[:2] + tuple(s - 1 for s in right[2:])}]
    padding = layer.params.get("padding")
    if padding not in (None, "valid") and padding != (0,) * len(right[2:]):
        unpadded = type(layer)(**{**layer.params, "padding": 0})
        unpadded.check_shapes(shapes)
        variants.append({"out_shape": tuple(unpadded.output_shape(shapes))})
    return variants
