"""``--device`` on every command that trains or predicts: parsed everywhere, resolved once, clear errors."""

import pytest
import torch

from tfscope.cli import build_parser, main
from tfscope.errors import InputError
from tfscope.device import resolve_device

COMMANDS = [["snr", "train"], ["snr", "motifs", "--checkpoint", "c", "--out", "o"],
            ["snr", "evaluate", "--checkpoint", "c"], ["snr", "predict", "f", "--checkpoint", "c", "--out", "o"],
            ["scan", "x.fa"], ["pretrain", "--out", "o"], ["demo"],
            ["multilabel", "train", "--windows", "d", "--out", "o"],
            ["multilabel", "evaluate", "--windows", "d", "--checkpoint", "c"],
            ["multilabel", "explain", "--windows", "d", "--checkpoint", "c"],
            ["moe", "train", "--train", "t", "--out", "o"], ["explain", "--checkpoint", "c", "--out", "o"],
            ["protein", "train", "--out", "o"],
            ["family", "train", "--out", "o"]]


@pytest.mark.parametrize("cmd", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_every_train_or_predict_command_takes_device(cmd):
    args = build_parser().parse_args([*cmd, "--device", "cpu"])
    assert args.device == "cpu"


def test_resolve_device():
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu") == resolve_device(None)
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(InputError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA"):
            resolve_device("cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error path")
def test_cli_cuda_without_gpu_is_a_clean_error(tmp_path, capsys):
    from tfscope.resources import resource

    assert main(["snr", "train", "--table", str(resource("snr_tables", "FOXK1.tsv.gz")), "--device", "cuda",
                 "--epochs", "1", "--out", str(tmp_path / "ck"), "--quiet"]) == 2
    assert "no CUDA" in capsys.readouterr().err and not (tmp_path / "ck").exists()


def test_autocast_bf16_on_cpu_fp16_ignored_bad_value_refused():
    """--amp bf16 runs convolutions in bfloat16 on CPU too (AMX/AVX512-BF16 speed up BertSNR fine-tuning); fp16 is
    CUDA-only and a no-op on CPU; anything else is refused."""
    import torch

    from tfscope.device import autocast

    conv = torch.nn.Conv1d(4, 8, 3)
    x = torch.randn(2, 4, 10)
    with autocast("cpu", "bf16"):
        assert conv(x).dtype == torch.bfloat16
    with autocast("cpu", "fp16"):
        assert conv(x).dtype == torch.float32
    with autocast("cpu", None):
        assert conv(x).dtype == torch.float32
    with pytest.raises(ValueError, match="amp must be"):
        autocast("cpu", "int8")
