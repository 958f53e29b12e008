"""Bundled DNA-binding-domain reference data: Pfam DBD HMMs, 752 JASPAR-linked vertebrate TFs, CIS-BP thresholds.

The data come from the JASPAR profile inference tool (github wassermanlab/JASPAR-profile-inference, MIT; copy in
``../shared/data/protein-dbd``) and ship in ``tfscope/resources/protein_dbd/`` (``resource("protein_dbd")``),
built by::

    python -m tfscope.protein.dbdref ../shared/data/protein-dbd

Files of the bundle (all gzip-compressed JSON or HMMER text; provenance in ``PROVENANCE.json`` there):

=========================== ==========================================================================================
``pfam_dbd.hmm.gz``         the 88 Pfam DBD profile HMMs (HMMER3 text, concatenated, unchanged)
``references.json.gz``      752 TFs: UniProt accession -> sequence, JASPAR matrix IDs, DBD hits (Pfam family,
                            hmmalign-style aligned domain, start, end, E-value; as in ``vertebrates.pfam.json``)
``matrices.json.gz``        the 1,011 JASPAR matrices those IDs point to: ID -> name, counts (4 x width, ACGT)
                            and TFClass ``tf_class`` / ``tf_family`` (pyjaspar, JASPAR 2024 or the newest release
                            holding the ID; JASPAR data CC BY 4.0)
``cisbp.json.gz``           CIS-BP similarity-regression / sequence-identity models per DBD family (Lambert et al.
                            2019), keyed by the Pfam family name the tool maps them to (``null`` -> ``NO_THRESHOLD``)
=========================== ==========================================================================================
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import shutil
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import InputError
from ..io.atomic import atomic_write
from ..resources import resource

#: CIS-BP family name -> Pfam DBD HMM name, as the JASPAR profile inference tool maps them (``__init__.py`` there)
CISBP_TO_PFAM = {
    "AP2": "AP2", "APSES": "KilA-N", "ARID/BRIGHT": "ARID", "AT hook": "AT_hook", "bHLH": "HLH", "bZIP": "bZIP_1",
    "C2H2 ZF": "zf-C2H2", "DM": "DM", "Dof": "zf-Dof", "E2F": "E2F_TDP", "Ets": "Ets", "Forkhead": "Forkhead",
    "GATA": "GATA", "GCM": "GCM", "Homeodomain": "Homeodomain", "Homeodomain,POU": "Pou", "HSF": "HSF_DNA-bind",
    "MADF": "MADF_DNA_bdg", "Myb/SANT": "Myb_DNA-binding", "NAC/NAM": "NAM", "Nuclear receptor": "zf-C4",
    "Pipsqueak": "HTH_psq", "RFX": "RFX_DNA_binding", "SAND": "SAND", "SBP": "SBP", "Sox": "HMG_box",
    "T-box": "T-box", "TCP": "TCP", "TCR/CxC": "TCR", "WRKY": "WRKY", "Zinc cluster": "Zn_clus",
    "NO_THRESHOLD": None,
}

FILES = {"hmms": "pfam_dbd.hmm.gz", "references": "references.json.gz", "matrices": "matrices.json.gz",
         "cisbp": "cisbp.json.gz"}


@dataclass
class DbdReference:
    """The bundled reference set (see module docstring).

    Attributes
    ----------
    proteins : dict
        UniProt accession -> ``{"sequence": str, "matrices": [JASPAR IDs], "dbds": [[family, aligned, start, end,
        evalue], ...]}`` (752 entries; ``start``/``end`` 1-based, inclusive).
    matrices : dict
        JASPAR ID -> ``{"name": str, "counts": 4 x width list (A, C, G, T), "tf_class": [str], "tf_family": [str]}``.
    cisbp : dict
        Pfam family name (or ``"null"`` for the default) -> CIS-BP model dict (``Model.Class``, ``Threshold.HSim``,
        ``Baseline``, ``SR.*``).
    directory : Path
    """

    proteins: dict
    matrices: dict
    cisbp: dict
    directory: Path

    def protein_class(self, acc: str) -> str | None:
        """TFClass class of a reference TF from its JASPAR matrices: the most frequent ``tf_class`` over its
        single-protein matrices (all matrices if it has only dimers); ``None`` when none is annotated."""

        ids = self.proteins[acc]["matrices"]
        single = [m for m in ids if "::" not in self.matrices[m]["name"]] or ids
        c = Counter(cl for m in single for cl in set(self.matrices[m]["tf_class"]))
        if not c:
            return None
        best = max(c.values())
        return sorted(k for k, v in c.items() if v == best)[0]

    def cisbp_model(self, family: str) -> dict:
        """The CIS-BP model of a Pfam DBD family (the ``NO_THRESHOLD`` default for families without one)."""
        return self.cisbp.get(family, self.cisbp["null"])


def _read_json_gz(path: Path):
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=4)
def load_reference(directory=None) -> DbdReference:
    """Load the DBD reference bundle.

    Parameters
    ----------
    directory : str or Path, optional
        A directory written by :func:`build_bundle`; default the bundled ``resource("protein_dbd")``.

    Returns
    -------
    DbdReference

    Raises
    ------
    InputError
        A file of the bundle is missing.
    """

    d = Path(directory) if directory is not None else resource("protein_dbd")
    for f in ("references", "matrices", "cisbp"):
        if not (d / FILES[f]).is_file():
            raise InputError(f"{d / FILES[f]}: DBD reference file missing (rebuild with python -m "
                             "tfscope.protein.dbdref ../shared/data/protein-dbd)")
    return DbdReference(_read_json_gz(d / FILES["references"]), _read_json_gz(d / FILES["matrices"]),
                        _read_json_gz(d / FILES["cisbp"]), d)


def hmm_path(directory=None) -> Path:
    """Path of the gzip-compressed HMMER3 text file of the 88 Pfam DBD HMMs (bundled by default)."""

    return (Path(directory) if directory is not None else resource("protein_dbd")) / FILES["hmms"]


def _read_jaspar(path: Path) -> tuple[str, list[list[float]]]:
    lines = path.read_text().splitlines()
    name = lines[0].split(None, 1)[1].strip() if len(lines[0].split(None, 1)) > 1 else ""
    rows = []
    for ln in lines[1:5]:
        inner = ln[ln.index("[") + 1:ln.index("]")]
        rows.append([float(v) for v in inner.split()])
    return name, rows


def _jaspar_classes(ids) -> dict:
    """``{ID: (tf_class list, tf_family list, release)}`` from pyjaspar's offline databases (newest release first)."""
    from pyjaspar import jaspardb

    out = {}
    for rel in ("JASPAR2024", "JASPAR2022", "JASPAR2020", "JASPAR2018"):
        todo = [i for i in ids if i not in out]
        if not todo:
            break
        db = jaspardb(release=rel)
        for i in todo:
            m = db.fetch_motif_by_id(i)
            if m is not None and m.tf_class:
                out[i] = (list(m.tf_class), list(m.tf_family or []), rel)
    return out


def build_bundle(src, out=None) -> dict:
    """Build the bundle from a copy of the tool's data folder (``../shared/data/protein-dbd``).

    Parameters
    ----------
    src : str or Path
        Folder with ``pfam/*.hmm``, ``vertebrates.*.json``, ``jaspar-vertebrates/*.jaspar``, ``cisbp/*.json``,
        ``LICENSE``, ``SOURCE_COMMIT``.
    out : str or Path, optional
        Output directory (default: the package's ``resources/protein_dbd``).

    Returns
    -------
    dict
        The provenance written to ``PROVENANCE.json`` (counts, sha256 of every output).
    """

    src = Path(src)
    out = Path(out) if out is not None else resource("protein_dbd")
    out.mkdir(parents=True, exist_ok=True)
    hmm_files = sorted((src / "pfam").glob("*.hmm"))
    with atomic_write(out / FILES["hmms"], "wb") as fh:  # a .gz path: atomic_write compresses
        for f in hmm_files:
            fh.write(f.read_bytes())
    uni = json.loads((src / "vertebrates.uniprot.json").read_text())
    pfam = json.loads((src / "vertebrates.pfam.json").read_text())
    names = json.loads((src / "vertebrates.profiles.json").read_text())
    proteins = {acc: {"sequence": seq, "matrices": list(ids), "dbds": pfam.get(acc, [])}
                for acc, (ids, seq) in sorted(uni.items())}
    mids = sorted({m for p in proteins.values() for m in p["matrices"]})
    classes = _jaspar_classes(mids)
    matrices = {}
    for m in mids:
        name, counts = _read_jaspar(src / "jaspar-vertebrates" / f"{m}.jaspar")
        cl, fam, rel = classes.get(m, ([], [], None))
        matrices[m] = {"name": names.get(m, name), "counts": counts, "tf_class": cl, "tf_family": fam,
                       "class_release": rel}
    cisbp = {}
    for f in sorted((src / "cisbp").glob("*.json")):
        model = json.loads(f.read_text())  # NaN thresholds are read as float('nan')
        fam = CISBP_TO_PFAM.get(model["Family_Name"], "?")
        if fam == "?":
            raise InputError(f"{f}: CIS-BP family {model['Family_Name']!r} has no Pfam mapping")
        cisbp["null" if fam is None else fam] = {k: (None if isinstance(v, float) and math.isnan(v) else v)
                                                 for k, v in model.items()}
    for key, obj in (("references", proteins), ("matrices", matrices), ("cisbp", cisbp)):
        with atomic_write(out / FILES[key]) as fh:  # a .gz path: atomic_write compresses
            fh.write(json.dumps(obj, sort_keys=True, separators=(",", ":")))
    shutil.copyfile(src / "LICENSE", out / "LICENSE")
    prov = {
        "source": "github wassermanlab/JASPAR-profile-inference, files/ (vertebrates), commit "
                  + (src / "SOURCE_COMMIT").read_text().strip(),
        "licence": "MIT (LICENSE, copyright of the JASPAR profile inference tool's authors); JASPAR matrices CC BY 4.0;"
                   " Pfam HMMs CC0; CIS-BP models from Lambert et al. 2019 (Nature Genetics 51:981)",
        "built_by": "python -m tfscope.protein.dbdref ../shared/data/protein-dbd",
        "counts": {"hmms": len(hmm_files), "proteins": len(proteins), "matrices": len(matrices),
                   "matrices_with_tf_class": sum(bool(v["tf_class"]) for v in matrices.values()),
                   "cisbp_models": len(cisbp)},
        "tf_class_source": "pyjaspar offline databases (JASPAR2024, else the newest release holding the ID)",
        "sha256": {f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in FILES.values()},
    }
    with atomic_write(out / "PROVENANCE.json") as fh:
        json.dump(prov, fh, indent=1)
    load_reference.cache_clear()
    return prov


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="build tfscope/resources/protein_dbd from the JASPAR profile "
                                             "inference tool's data folder")
    ap.add_argument("src", help="e.g. ../shared/data/protein-dbd")
    ap.add_argument("--out", default=None, help="output directory (default: the package's resources/protein_dbd)")
    a = ap.parse_args(argv)
    print(json.dumps(build_bundle(a.src, a.out), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
