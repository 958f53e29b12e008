"""Loading a checkpoint does not depend on import order: a fresh process that imported only
``tfscope.checkpoint`` loads a checkpoint of every task (the config names the class; loading imports it)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tfscope.checkpoint import load_checkpoint, model_class, read_config, save_checkpoint
from tfscope.errors import CheckpointError

SRC = Path(__file__).resolve().parents[1] / "src"

CHILD = r"""
import json, sys
import tfscope.checkpoint as ck
before = sorted(m for m in sys.modules if m.startswith("tfscope"))
out = []
for path, task in json.loads(sys.argv[1]):
    net, cfg = ck.load_checkpoint(path, task=task)
    out.append({"task": task, "class": f"{type(net).__module__}:{type(net).__qualname__}",
                "params": sum(p.numel() for p in net.parameters()) if hasattr(net, "parameters") else 0})
print(json.dumps({"before": before, "loaded": out}))
"""


def _task_checkpoints(tmp_path) -> list[tuple[str, str, int]]:
    """(checkpoint dir, task, parameter count) of one model per task."""
    from tfscope.models.tcn import TCN
    from tfscope.moe.models import DeepBindExpert
    from tfscope.protein.esm import EsmClassifier, tiny_esm_config
    from tfscope.resources import resource

    made = []
    for name, task, net, hp in [
            ("moe", "moe", DeepBindExpert(filters=4, width=5, hidden=3), {"filters": 4, "width": 5, "hidden": 3}),
            ("multilabel", "multilabel", TCN(n_labels=3, channels=8, n_blocks=2), {"n_labels": 3, "channels": 8,
                                                                                    "n_blocks": 2}),
            ("protein", "protein", EsmClassifier(tiny_esm_config()), {"esm_config": tiny_esm_config()})]:
        save_checkpoint(tmp_path / name, net, model_name={"moe": "deepbind", "multilabel": "tcn",
                                                          "protein": "esm-classifier"}[name], task=task, hparams=hp)
        made.append((str(tmp_path / name), task, sum(p.numel() for p in net.parameters())))
    for path, task in [(resource("zoo", "shuffled", "KLF4"), "snr"), (resource("zoo", "genomic"), "snr"),
                       (resource("tfclass_model"), "family")]:
        made.append((str(path), task, sum(p.numel() for p in load_checkpoint(path, task=task)[0].parameters())))
    for layer in ("layer1", "layer2"):  # the shipped numpy protein models: the same format, no parameters
        made.append((str(resource("protein_model", layer)), "protein", 0))
    return made


def test_fresh_process_loads_every_task(tmp_path):
    made = _task_checkpoints(tmp_path)
    arg = json.dumps([(p, t) for p, t, _ in made])
    res = subprocess.run([sys.executable, "-c", CHILD, arg], capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    rep = json.loads(res.stdout.splitlines()[-1])
    assert not any(m.startswith(("tfscope.moe", "tfscope.tfclass", "tfscope.protein", "tfscope.multilabel"))
                   for m in rep["before"]), rep["before"]
    assert [r["task"] for r in rep["loaded"]] == [t for _, t, _ in made]
    assert [r["params"] for r in rep["loaded"]] == [n for _, _, n in made]
    assert rep["loaded"][0]["class"] == "tfscope.moe.models:DeepBindExpert"
    assert rep["loaded"][2]["class"] == "tfscope.protein.esm:EsmClassifier"
    assert [r["class"] for r in rep["loaded"][-2:]] == ["tfscope.protein.dbdmodel:DbdTieredModel",
                                                         "tfscope.protein.align:AlignmentKnnModel"]


def test_config_names_the_class_and_old_configs_still_load(tmp_path):
    from tfscope.models.dilated import DilatedResNet

    save_checkpoint(tmp_path / "c", DilatedResNet(channels=8, n_blocks=2), model_name="dilated", task="snr",
                    hparams={"channels": 8, "n_blocks": 2})
    cfg = read_config(tmp_path / "c")
    assert cfg["class"] == "tfscope.models.dilated:DilatedResNet"
    # a config without "class" (written before it existed) or naming a class that moved resolves by model name
    for cls in (None, "tfscope.nowhere:DilatedResNet"):
        c = dict(cfg, **({"class": cls} if cls else {}))
        if cls is None:
            c.pop("class")
        (tmp_path / "c" / "config.json").write_text(json.dumps(c))
        assert isinstance(load_checkpoint(tmp_path / "c", task="snr")[0], DilatedResNet)
    # a class outside tfscope is never imported
    with pytest.raises(CheckpointError):
        model_class({"model": "nope", "class": "os:system"})
    assert model_class({"model": "x", "class": "tfscope.models.dilated:DilatedResNet"}) is DilatedResNet
    assert torch.nn.Module in model_class({"model": "dilated"}).__mro__
