import os

import pytest
import torch

os.environ.setdefault("TQDM_DISABLE", "1")

#: devices the model tests run on: CPU always, CUDA when present (a GPU machine checks the CUDA path too)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """Each device a model test runs on: ``"cpu"``, and ``"cuda"`` when a GPU is present."""
    return request.param


@pytest.fixture
def tiny_genome(tmp_path):
    """A 2-chromosome FASTA (random, seeded) and a BED of sites on it."""
    import numpy as np

    rng = np.random.default_rng(0)
    chroms = {"chrA": "".join(rng.choice(list("ACGT"), 1000)), "chrB": "".join(rng.choice(list("ACGT"), 600))}
    fa = tmp_path / "genome.fa"
    with open(fa, "w") as fh:
        for k, v in chroms.items():
            fh.write(f">{k}\n")
            for i in range(0, len(v), 60):
                fh.write(v[i:i + 60].lower() + "\n")
    bed = tmp_path / "sites.bed"
    bed.write_text("chrA\t200\t212\tTFX\t0\t+\nchrA\t500\t510\tTFX\t0\t-\nchrB\t300\t315\tTFX\t0\t+\n"
                   "chrB\t100\t108\tTFX\t0\t.\nchrA\t800\t811\tTFX\t0\t-\n")
    return fa, bed, chroms


def _scan_networks() -> dict:
    from tfscope.models.dilated import DilatedResNet
    from tfscope.zoo.student import LocalizerStudent, StridedDetector

    return {"dilated": lambda: DilatedResNet(channels=8, n_blocks=3),
            "dilated-multi": lambda: DilatedResNet(channels=8, n_blocks=2, n_outputs=3),
            "localizer-student": lambda: LocalizerStudent(channels=6, hidden=4),
            "strided-detector": lambda: StridedDetector(n_outputs=3, channels=8, stride=8, n_blocks=2)}


@pytest.fixture(params=["dilated", "dilated-multi", "localizer-student", "strided-detector"])
def scan_network(request):
    """A factory of a small random scan network, one of each kind that has inference copies (channels-last, int8)."""
    return _scan_networks()[request.param]
