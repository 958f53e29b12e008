"""Build the extra-collection training motifs of the family task (issue 33) from the GimmeMotifs source distribution.

    python scripts/build_motif_collections.py [--sdist gimmemotifs-0.18.4.tar.gz] [--out PATH] [--by-group]

Without ``--sdist`` the sdist is fetched with ``pip download --no-deps --no-binary :all: gimmemotifs==0.18.4`` into
a temporary folder (PyPI only; nothing is installed). Steps (counts of each go into the file's ``meta``):

1. parse ``data/motif_databases/<NAME>.pfm`` + ``<NAME>.motif2factors.txt`` of every collection in
   :data:`tfscope.tfclass.collections.COLLECTIONS` (with its evidence filter);
2. label each motif with the JASPAR 2024 CORE TFClass class of its factor genes (pyjaspar, offline; upper-cased
   symbols, genes of several classes left out, motifs whose factors disagree left out; ``--by-group`` also labels
   genes unknown to JASPAR through an unambiguous paralog group) and keep the 20 classes of the JASPAR 2024
   family dataset, and only motifs at least as wide (4 columns) and informative (total information content) as the
   narrowest / least informative motif of that dataset;
3. drop every motif near-identical (:func:`~tfscope.tfclass.collections.near_identical_pairs`) to a CORE matrix
   (any version) of JASPAR 2020, 2022 or 2024;
4. drop near-identical copies among the extra motifs (first collection in ``COLLECTIONS`` order wins);
5. write gzip JSON (:meth:`~tfscope.tfclass.collections.ExtraMotifs.save`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from tfscope.motif import counts_to_probs, information_content
from tfscope.tfclass.collections import (COLLECTIONS, MAX_WIDTH_DIFF, NEAR_IDENTICAL, ExtraMotifs, default_path,
                                         gene_class_map, gene_symbol, greedy_unique, group_class_map, label_motifs,
                                         near_identical_pairs, read_gimme_pfm, read_motif2factors)
from tfscope.tfclass.data import build_dataset

VERSION = "0.18.4"


def fetch_sdist(dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    f"gimmemotifs=={VERSION}", "-d", str(dest)], check=True)
    return next(dest.glob("gimmemotifs-*.tar.gz"))


def extract(sdist: Path, dest: Path) -> Path:
    with tarfile.open(sdist) as tf:
        members = [m for m in tf.getmembers() if "/data/motif_databases/" in m.name and m.isfile()]
        tf.extractall(dest, members=members)
    return next(dest.glob("gimmemotifs-*/data/motif_databases"))


def jaspar_matrices() -> list[np.ndarray]:
    """Every CORE matrix (all versions, dimers included) of JASPAR 2020, 2022 and 2024 (pyjaspar, offline)."""
    from pyjaspar import jaspardb

    out, seen = [], set()
    for rel in ("JASPAR2020", "JASPAR2022", "JASPAR2024"):
        for m in jaspardb(release=rel).fetch_motifs(collection=["CORE"], all_versions=True):
            if m.matrix_id in seen:
                continue
            seen.add(m.matrix_id)
            out.append(counts_to_probs(np.array([m.counts[b] for b in "ACGT"], dtype=np.float64)))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sdist", type=Path, help="gimmemotifs sdist (.tar.gz); default: pip download it")
    ap.add_argument("--out", type=Path, default=default_path())
    ap.add_argument("--by-group", action="store_true", help="label genes unknown to JASPAR by their paralog group")
    ap.add_argument("--threshold", type=float, default=NEAR_IDENTICAL)
    a = ap.parse_args(argv)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sdist = a.sdist or fetch_sdist(tmp)
        db = extract(sdist, tmp)
        ids, cols, facs, pfms, meta_c = [], [], [], [], {}
        for name, flt in COLLECTIONS.items():
            mot = read_gimme_pfm(db / f"{name}.pfm")
            m2f = read_motif2factors(db / f"{name}.motif2factors.txt", evidence=flt["evidence"],
                                     curated=flt["curated"])
            n_fac = 0
            for mn, p in mot:
                mn = next((k for k in (mn, mn.split("\t")[0], mn.split()[0]) if k in m2f), None)
                if mn is not None:
                    n_fac += 1
                    ids.append(f"{name}:{mn}")
                    cols.append(name)
                    facs.append(m2f[mn])
                    pfms.append(p)
            meta_c[name] = {"motifs": len(mot), "with_factor": n_fac}
    ref = build_dataset("JASPAR2024")
    from tfscope.tfclass.data import fetch_release

    jm = [m for m in fetch_release("JASPAR2024") if "::" not in m.name and m.tf_class]
    names = [m.name for m in jm for _ in m.tf_class]
    cls = [c for m in jm for c in m.tf_class]
    gene_map, ambiguous = gene_class_map(names, cls)
    group_map = group_class_map(gene_map, ambiguous) if a.by_group else None
    labels, sources = label_motifs(facs, gene_map, group_map)
    src_cnt = Counter(sources)
    # quality floor: as wide and as informative as the narrowest / least informative JASPAR 2024 family motif
    min_w = min(p.shape[1] for p in ref.pfms)
    min_bits = min(float(information_content(p).sum()) for p in ref.pfms)
    ok = [p.shape[1] >= min_w and float(information_content(p).sum()) >= min_bits for p in pfms]
    keep = [i for i, lab in enumerate(labels) if lab in ref.classes and ok[i]]
    n_low = sum(1 for i, lab in enumerate(labels) if lab in ref.classes and not ok[i])
    for i in keep:
        meta_c[cols[i]]["labelled_20_classes"] = meta_c[cols[i]].get("labelled_20_classes", 0) + 1
    ex = ExtraMotifs([ids[i] for i in keep], [cols[i] for i in keep],
                     [[gene_symbol(f) for f in facs[i]] for i in keep], [pfms[i] for i in keep],
                     [labels[i] for i in keep], [sources[i] for i in keep])
    print(f"parsed {len(ids)} motifs with a factor, {len(ex)} labelled in the 20 classes "
          f"({dict(src_cnt)}; {n_low} below {min_w} columns or {min_bits:.2f} bits dropped), "
          f"{time.time() - t0:.0f} s", flush=True)
    jas = jaspar_matrices()
    pj = near_identical_pairs(ex.pfms, jas, threshold=a.threshold)
    dup_j = np.zeros(len(ex), dtype=bool)
    dup_j[pj[:, 0]] = True
    for i in np.flatnonzero(dup_j):
        meta_c[ex.collections[i]]["near_identical_to_jaspar"] = meta_c[ex.collections[i]].get(
            "near_identical_to_jaspar", 0) + 1
    ex = ex.subset(np.flatnonzero(~dup_j))
    print(f"{int(dup_j.sum())} near-identical to one of {len(jas)} JASPAR 2020-2024 CORE matrices, "
          f"{time.time() - t0:.0f} s", flush=True)
    pw = near_identical_pairs(ex.pfms, threshold=a.threshold)
    uniq = greedy_unique(len(ex), pw)
    for i in np.flatnonzero(~uniq):
        meta_c[ex.collections[i]]["near_identical_to_earlier_extra"] = meta_c[ex.collections[i]].get(
            "near_identical_to_earlier_extra", 0) + 1
    ex = ex.subset(np.flatnonzero(uniq))
    for c in COLLECTIONS:
        meta_c[c]["kept"] = sum(1 for x in ex.collections if x == c)
    ex.meta = {"source": f"PyPI gimmemotifs=={VERSION} sdist, data/motif_databases", "collections": meta_c,
               "labels": "JASPAR 2024 CORE TFClass class of the factor gene (pyjaspar)"
                         + (", else of its paralog group" if a.by_group else ""),
               "by_group": bool(a.by_group), "min_width": int(min_w), "min_information_bits": round(min_bits, 3),
               "n_below_quality_floor": n_low, "near_identical_threshold": a.threshold,
               "max_width_diff": MAX_WIDTH_DIFF, "n_jaspar_matrices_dedup": len(jas),
               "n_genes_ambiguous_in_jaspar": len(ambiguous), "n_motifs": len(ex),
               "n_genes": len({g for gs in ex.genes for g in gs}), "class_counts": ex.counts(),
               "label_sources": dict(Counter(ex.sources))}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    ex.save(a.out)
    print(f"{int((~uniq).sum())} near-identical to an earlier extra motif; kept {len(ex)} motifs of "
          f"{ex.meta['n_genes']} genes -> {a.out} ({a.out.stat().st_size / 1e6:.2f} MB), {time.time() - t0:.0f} s")
    for c, v in meta_c.items():
        print(f"  {c}: {v}")
    print(f"  classes: {ex.counts()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
