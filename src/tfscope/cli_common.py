"""Arguments shared by the task CLIs (one vocabulary: ``--device`` means the same everywhere)."""

from __future__ import annotations


def add_device_arg(parser, *, amp: bool = False) -> None:
    """Add ``--device {auto,cpu,cuda,cuda:N}`` (default ``auto``: CUDA when torch sees one, else CPU) and, with
    ``amp``, ``--amp {bf16,fp16}`` (mixed precision on CUDA; ignored on CPU)."""
    parser.add_argument("--device", default="auto", metavar="DEVICE",
                        help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    if amp:
        parser.add_argument("--amp", choices=["bf16", "fp16"], help="mixed-precision autocast on CUDA")


def print_json(obj) -> None:
    """Print a JSON object (NaN allowed) to stdout."""
    import json

    print(json.dumps(obj, indent=2, default=str))
