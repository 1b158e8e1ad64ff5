"""Mistakes in the SGD step of a multi-layer exercise (grading only).

They are catalogued under the pseudo-layer ``sgd`` (``gradcheck.grading.network.SGDStep``, params
{"lr": η}) with kind "update": ``predict(step, arrays, None)`` gets a parameter and its gradient
({"w": W, "grad_w": dL/dW}, one parameter at a time) and returns it after the mistaken step ({"updated_w": ...}).
"""
from . import mistake


def _parameters(arrays):
    return {p: v for p, v in arrays.items() if not p.startswith("grad_")}


@mistake("sgd_sign_flipped", ("sgd",), "the SGD step added the gradient (w + η·dL/dw) instead of "
                                       "subtracting it (w − η·dL/dw)", kind="update")
def sgd_sign_flipped(step, arrays, grad_out):
    lr = step.params["lr"]
    return [{f"updated_{p}": v + lr * arrays[f"grad_{p}"] for p, v in _parameters(arrays).items()}]


@mistake("sgd_learning_rate_ignored", ("sgd",), "the SGD step subtracted the whole gradient (w − dL/dw), "
                                                "without the learning rate η", kind="update")
def sgd_learning_rate_ignored(step, arrays, grad_out):
    return [{f"updated_{p}": v - arrays[f"grad_{p}"] for p, v in _parameters(arrays).items()}]
