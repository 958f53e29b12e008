"""Build the bundled model zoo (``src/tfscope/resources/zoo``) from benchmark checkpoints.

``python benchmarks/snr.py --models dilated --save-checkpoints CKPTS`` trains one model per TF on the BertSNR
split (validation threshold and test metrics are stored in each checkpoint); this script copies
``CKPTS/<model>/<TF>`` into the package and adds the TF's JASPAR 2022 matrix id, class and family (pyjaspar).

Usage: ``python scripts/build_zoo.py CKPTS [--model dilated]``
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def main():
    from tfscope.motifs.jaspar import jaspar_motif

    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoints")
    ap.add_argument("--model", default="dilated")
    args = ap.parse_args()
    src = Path(args.checkpoints) / args.model
    dst = Path(__file__).resolve().parents[1] / "src" / "tfscope" / "resources" / "zoo"
    dst.mkdir(parents=True, exist_ok=True)
    n = 0
    for d in sorted(src.iterdir()):
        if not (d / "config.json").exists():
            continue
        cfg = json.loads((d / "config.json").read_text())
        m = jaspar_motif(d.name)
        cfg["meta"].update({"jaspar_id": m.matrix_id, "jaspar_name": m.name, "tf_class": "; ".join(m.tf_class),
                            "tf_family": "; ".join(m.tf_family)})
        cfg["meta"].pop("history", None)
        out = dst / d.name
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        shutil.copyfile(d / "model.safetensors", out / "model.safetensors")
        (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        n += 1
    size = sum(p.stat().st_size for p in dst.rglob("*") if p.is_file()) / 2**20
    print(f"zoo: {n} models, {size:.1f} MiB in {dst}")


if __name__ == "__main__":
    main()
