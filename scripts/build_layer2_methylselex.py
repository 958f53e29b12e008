"""Build the layer-2 (TFPM vs TFPNM) set from the primary methyl-HT-SELEX calls, one label per protein.

Inputs
------
* ``src/tfscope/resources/protein_layer2/methyl_selex_calls.tsv``: committed copy of the needed columns of
  ``Data/SELEX-motif-collection/Methyl_SELEX_metadata_with_info.csv`` (github MariaOsmala/TFBS; provenance in
  ``PROVENANCE.json`` beside it). ``--from-csv ORIGINAL.csv`` regenerates that copy from the original file.
* Protein sequences: the FASTA files of ``../shared/data/protein`` (iTFPM-RGDC; headers are UniProt or Ensembl
  ids; ``TFPM_mouse`` is skipped: mouse proteins).
* Gene symbol -> UniProt accession: the human matrices of every JASPAR release shipped by ``pyjaspar``
  (2014-2026, CORE + UNVALIDATED, offline); the source CSV has gene symbols only.

Steps: one label per gene (:func:`tfscope.protein.methylselex.protein_label`; mixed and uninformative genes are
excluded), the gene's sequence = a FASTA record whose UniProt accession JASPAR gives for the symbol (Ensembl-id
records are attached when their sequence is identical), one row per distinct sequence, sequence-identity clusters
(:func:`tfscope.protein.methylselex.identity_clusters`, 40 % identity over the shorter protein, single linkage).
Writes ``layer2_methylselex.tsv`` and the ``build`` section of ``PROVENANCE.json`` (atomically).

Usage: ``python scripts/build_layer2_methylselex.py [--from-csv Methyl_SELEX_metadata_with_info.csv]
[--protein-dir ../shared/data/protein]`` (about 5 minutes on one core, mostly the alignments).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import json
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tfscope.io.atomic import atomic_write  # noqa: E402
from tfscope.io.fasta import read_protein_records  # noqa: E402
from tfscope.protein.methylselex import (LABELS, TSV_COLUMNS, identity_clusters, normalise_call,  # noqa: E402
                                         protein_label)

OUT = ROOT / "src" / "tfscope" / "resources" / "protein_layer2"  # = tfscope.resources.resource("protein_layer2")
RAW = OUT / "methyl_selex_calls.tsv"
RAW_COLUMNS = ("ID", "symbol", "clone", "family", "Lambert2018_families", "consensus", "call.x", "methyl-SELEX_call",
               "call.y", "no_cpg", "final suggestion")
JASPAR_RELEASES = ("JASPAR2014", "JASPAR2016", "JASPAR2018", "JASPAR2020", "JASPAR2022", "JASPAR2024", "JASPAR2026")
MIN_IDENTITY = 0.4


def write_raw_copy(src: Path) -> dict:
    """Copy the needed columns of the original ``;``-separated CSV to :data:`RAW` (tab-separated)."""
    data = src.read_bytes()
    rows = list(csv.DictReader(data.decode("utf-8-sig").splitlines(), delimiter=";"))
    missing = [c for c in RAW_COLUMNS if c not in rows[0]]
    if missing:
        raise SystemExit(f"{src}: missing columns {missing}")
    with atomic_write(RAW) as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(RAW_COLUMNS)
        for r in rows:
            w.writerow([r[c] for c in RAW_COLUMNS])
    return {"source_sha256": hashlib.sha256(data).hexdigest(), "source_rows": len(rows)}


def jaspar_accessions() -> dict[str, list[str]]:
    """Upper-case gene symbol -> UniProt accessions of human JASPAR matrices (all releases, first seen first)."""
    from pyjaspar import jaspardb

    out: dict[str, list[str]] = defaultdict(list)
    for rel in JASPAR_RELEASES:
        for m in jaspardb(release=rel).fetch_motifs(collection=["CORE", "UNVALIDATED"], tax_group=["vertebrates"],
                                                    species=["9606"], all_versions=True):
            if "::" in m.name:  # heterodimers
                continue
            name = re.sub(r"\(var\.\d+\)$", "", m.name).upper()
            for a in m.acc:
                if a and a not in out[name]:
                    out[name].append(a)
    return out


def accession(record_id: str) -> str:
    """UniProt accession or Ensembl id of a FASTA header (``sp|P1|X_HUMAN``, ``spP12345``, ``P12345``, ``ENSP..``)."""
    if "|" in record_id:
        return record_id.split("|")[1]
    return re.sub(r"^sp(?=[A-Z0-9]{6,10}$)", "", record_id)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from-csv", help="regenerate the committed raw copy from the original CSV first")
    ap.add_argument("--protein-dir", default=str(ROOT / ".." / "shared" / "data" / "protein"))
    args = ap.parse_args()
    t0 = time.time()
    prov_path = OUT / "PROVENANCE.json"
    prov = json.loads(prov_path.read_text()) if prov_path.exists() else {}
    if args.from_csv:
        prov.setdefault("source", {}).update(write_raw_copy(Path(args.from_csv)))
    with open(RAW, newline="") as fh:
        motifs = list(csv.DictReader(fh, delimiter="\t"))

    # one label per gene
    calls, fam, fam_selex = defaultdict(list), {}, {}
    for r in motifs:
        calls[r["symbol"]].append(normalise_call(r["final suggestion"]))
        fam.setdefault(r["symbol"], r["Lambert2018_families"] if r["Lambert2018_families"] not in ("", "NA")
                       else r["family"])
        fam_selex.setdefault(r["symbol"], r["family"])
    label, reasons = {}, Counter()
    for g, c in calls.items():
        lab, why = protein_label(c)
        reasons[why] += 1
        if lab is not None:
            label[g] = lab

    # sequences
    records = defaultdict(list)  # accession -> [(file stem, id, seq)]
    by_seq = defaultdict(set)
    for f in sorted(Path(args.protein_dir).glob("*.fasta")):
        if f.stem == "TFPM_mouse":
            continue
        for rid, s in read_protein_records(f):
            records[accession(rid)].append((f.stem, rid, s))
            by_seq[s].add(accession(rid))
    acc_of = jaspar_accessions()
    rows, unmatched, seq_seen, dup_seq = [], [], {}, []
    for g in sorted(label):
        hit = next((a for a in acc_of.get(g.upper(), []) if a in records), None)
        if hit is None:
            unmatched.append(g)
            continue
        seqs = Counter(s for _, _, s in records[hit])
        seq = max(seqs, key=lambda s: (seqs[s], len(s)))  # the accession's most frequent (then longest) sequence
        if seq in seq_seen:  # two genes resolve to one sequence: keep the first, note it
            dup_seq.append(f"{g}={seq_seen[seq]}")
            continue
        seq_seen[seq] = g
        c = Counter(calls[g])
        rows.append({"protein_id": hit, "symbol": g, "label": LABELS[0] if label[g] else LABELS[1],
                     "family": fam[g], "family_selex": fam_selex[g],
                     "calls": ",".join(f"{k}:{v}" for k, v in sorted(c.items())),
                     "fasta_ids": ",".join(sorted(by_seq[seq])), "length": len(seq), "sequence": seq})
    print(f"{len(label)} labelled genes, {len(rows)} joined to a sequence ({len(unmatched)} without a "
          f"sequence, {len(dup_seq)} sharing one); clustering ...", flush=True)
    clusters = identity_clusters([r["sequence"] for r in rows], MIN_IDENTITY, verbose=True)
    for r, c in zip(rows, clusters):
        r["cluster"] = int(c)
    OUT.mkdir(parents=True, exist_ok=True)
    with atomic_write(OUT / "layer2_methylselex.tsv") as fh:
        w = csv.DictWriter(fh, fieldnames=list(TSV_COLUMNS), delimiter="\t", lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    y = [r["label"] for r in rows]
    prov["build"] = {
        "built_by": "python scripts/build_layer2_methylselex.py", "date": str(datetime.date.today()),
        "seconds": round(time.time() - t0, 1),
        "label_rule": "per gene over all motifs (eDBD + FL clones) of the curated 'final suggestion' call: ignore "
                      "'No CpG' and 'Inconclusive'; TFPM if all remaining calls are MethylPlus; TFPNM if all are "
                      "MethylMinus or Little effect; anything else (MethylPlus with MethylMinus/Little effect, or "
                      "Multiple effects) excluded as mixed (tfscope.protein.methylselex.protein_label)",
        "genes": len(calls), "genes_by_rule": dict(reasons),
        "sequence_source": "iTFPM-RGDC FASTA files in ../shared/data/protein (all but TFPM_mouse)",
        "symbol_to_uniprot": f"pyjaspar human matrices, releases {', '.join(JASPAR_RELEASES)} (CORE + UNVALIDATED)",
        "labelled_genes_without_sequence": unmatched, "genes_sharing_a_sequence_dropped": dup_seq,
        "proteins": len(rows), "by_label": dict(Counter(y)),
        "families": dict(Counter(r["family"] for r in rows).most_common()),
        "clustering": f"single linkage at >= {MIN_IDENTITY:.0%} identity (Smith-Waterman BLOSUM62 11/1 identities / "
                      "shorter length; tfscope.protein.methylselex.identity_clusters)",
        "clusters": len(set(clusters.tolist())), "largest_cluster": int(Counter(clusters.tolist()).most_common(1)[0][1]),
    }
    with atomic_write(prov_path) as fh:
        json.dump(prov, fh, indent=1)
        fh.write("\n")
    print(json.dumps({k: v for k, v in prov["build"].items() if k != "labelled_genes_without_sequence"}, indent=1))


if __name__ == "__main__":
    main()
