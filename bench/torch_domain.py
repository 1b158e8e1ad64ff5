"""``python -m bench.torch_domain``: torch's own backward passes gradcheck's default draws, 1,000 examples a layer.

The evidence for "no false alarms on correct code written the torch way": for every layer with a sweep space,
``check_backward(adapters.torch(F.<layer>), layer, max_examples=N)`` with nothing held, the way a user would
call it. Prints one row per layer (examples, seconds) and exits 1 if any layer fails. torch is required
(``pip install torch``); it runs with one intra-op thread, the fastest on these tiny tensors.

    python -m bench.torch_domain [--examples 1000] [--only conv2d]
"""
from __future__ import annotations

import argparse
import sys
import time

LAYERS = ("conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "max_pool2d", "avg_pool2d")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.torch_domain", description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--only", choices=LAYERS)
    args = parser.parse_args(argv)

    import torch
    from hypothesis import settings

    import gradcheck as gc
    from gradcheck import adapters

    torch.set_num_threads(1)
    settings.register_profile("torch-domain", database=None, derandomize=True)
    settings.load_profile("torch-domain")
    failed = 0
    print(f"torch {torch.__version__}, gradcheck {gc.__version__}: check_backward(adapters.torch(F.<layer>), layer, "
          f"max_examples={args.examples}), nothing held")
    for name in [args.only] if args.only else LAYERS:
        start = time.perf_counter()
        try:
            gc.check_backward(adapters.torch(getattr(torch.nn.functional, name)), name, max_examples=args.examples)
            verdict = "pass"
        except AssertionError as exc:
            failed += 1
            verdict = "FAIL: " + str(exc).splitlines()[0]
        print(f"{name:18s} {args.examples:5d} examples  {time.perf_counter() - start:6.1f} s  {verdict}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
