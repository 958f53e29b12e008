"""CLI of the protein layer: ``tfscope protein train`` and ``tfscope protein predict``.

``predict proteins.fasta`` writes a TSV: ``id``, ``p_tf`` (layer 1), ``is_tf``, and for proteins called TFs
``p_tfpm`` (layer 2, prefers methylated DNA) and ``is_tfpm``. The default models are the shipped offline models
(``tfscope/resources/protein/default_model``); ``--checkpoint DIR`` uses a directory written by ``tfscope protein train``.
"""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

from ..cli_common import (add_allow_unverified_arg, add_device_arg, add_json_arg, emit_json, plural, report_stream,
                          write_json)
from ..errors import InputError, TfscopeWarning
from ..io.atomic import refuse_clobbering
from ..io.fasta import read_fasta
from .domains import annotate, hit_lines, write_hits
from .esm import tiny_esm_config
from .pipeline import (TwoLayerPredictor, add_dbd_annotation, prediction_lines, train_default, train_esm_layers,
                       write_predictions)


def cmd_protein_train(args) -> int:
    """``tfscope protein train``: the offline default (``--model linear``) or ESM-2 classifiers per layer."""
    out = Path(args.out)
    if args.model == "linear":
        emit_json(train_default(out, data_dir=args.data_dir, protocol=args.protocol, seed=args.seed,
                                verbose=not args.quiet), args.json)
        return 0
    if not args.backbone and not args.tiny_random:
        raise InputError("--model esm needs --backbone DIR_OR_HUB_NAME (or --tiny-random for a smoke test)")
    summary = train_esm_layers(
        out, protocol=args.protocol, data_dir=args.data_dir, backbone=args.backbone or None,
        esm_config=tiny_esm_config() if args.tiny_random else None, lora=not args.full_finetune, lora_r=args.lora_r,
        lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout, max_residues=args.max_residues,
        long_mode=args.long_mode, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
        allow_download=args.allow_download, verbose=not args.quiet, device=args.device, amp=args.amp)
    emit_json(summary, args.json)
    return 0


def _warn_unknown_residues(path, records: dict[str, str]) -> None:
    """Warn about proteins of only X (unknown residues): scored like any protein, but the score says nothing."""
    unknown = [rid for rid, seq in records.items() if not seq.strip("X")]
    if unknown:
        warnings.warn(f"{path}: {plural(len(unknown), 'protein')} of only X (unknown residues), scored without "
                      f"information: {', '.join(unknown[:5])}{', ...' if len(unknown) > 5 else ''}", TfscopeWarning)


def cmd_protein_predict(args) -> int:
    """``tfscope protein predict``: TF / TFPM calls per protein (:class:`TwoLayerPredictor`), DBD columns."""
    refuse_clobbering([("--out", args.out), ("--json", args.json)], [("FASTA", args.fasta)])
    records = read_fasta(args.fasta, alphabet="protein", allow_dna_like=args.force_protein)
    _warn_unknown_residues(args.fasta, records)
    pred = TwoLayerPredictor(args.checkpoint, device=args.device)
    rows = pred.predict(records, tf_threshold=args.tf_threshold, tfpm_threshold=args.tfpm_threshold)
    if not args.no_dbd:
        add_dbd_annotation(rows, records)
    if args.out == "-":
        if args.json != "-":  # standard output holds one of the two
            sys.stdout.writelines(prediction_lines(rows))
    else:
        write_predictions(args.out, rows)
        n_tf, n_tfpm = sum(r["is_tf"] for r in rows), sum(bool(r["is_tfpm"]) for r in rows)
        print(f"{plural(len(rows), 'protein')}, {plural(n_tf, 'predicted TF')} ({n_tfpm} preferring methylated "
              f"DNA) -> {args.out}", file=report_stream(args))
    if args.json:
        thr = pred.thresholds
        write_json(args.json, {
            "checkpoint": str(pred.directory),
            "tf_threshold": thr["tf"] if args.tf_threshold is None else args.tf_threshold,
            "tfpm_threshold": thr["tfpm"] if args.tfpm_threshold is None else args.tfpm_threshold,
            "proteins": [{**r, "p_tfpm": None if math.isnan(r["p_tfpm"]) else r["p_tfpm"]} for r in rows]})
    return 0


def cmd_protein_domains(args) -> int:
    refuse_clobbering([("--out", args.out), ("--json", args.json)], [("FASTA", args.fasta)])
    records = read_fasta(args.fasta, alphabet="protein", allow_dna_like=args.force_protein)
    hits = annotate(records, evalue=args.evalue, domain_evalue=args.domain_evalue)
    if args.out == "-":
        if args.json != "-":
            sys.stdout.writelines(hit_lines(hits))
    else:
        write_hits(args.out, hits)
        n_dbd = sum(bool(v) for v in hits.values())
        print(f"{plural(len(hits), 'protein')}, {n_dbd} with a DBD hit, {plural(sum(map(len, hits.values())), 'domain')}"
              f" -> {args.out}", file=report_stream(args))
    if args.json:
        from dataclasses import asdict

        write_json(args.json, {"evalue": args.evalue, "domain_evalue": args.domain_evalue,
                               "proteins": {k: [asdict(h) for h in v] for k, v in hits.items()}})
    return 0


def add_cli(sub) -> None:
    p = sub.add_parser("protein", help="TF identification (layer 1) and methylated-DNA preference (layer 2)")
    ps = p.add_subparsers(dest="protein_command", required=True, metavar="SUBCOMMAND")

    t = ps.add_parser("train", help="train both layers (layer 1: iTFPM-RGDC files; layer 2: the bundled "
                      "methyl-HT-SELEX set)")
    t.add_argument("--out", "-o", required=True, help="output model directory")
    t.add_argument("--data-dir", help="directory with the layer-1 benchmark FASTA files (default "
                   "../shared/data/protein); layer 2 uses the methyl-SELEX set bundled in the package")
    t.add_argument("--protocol", choices=["published", "dedup"], default="dedup", help="layer-1 protocol")
    t.add_argument("--model", choices=["linear", "esm"], default="linear",
                   help="linear: offline composition default (CV-selected); esm: ESM-2 fine-tuning/LoRA")
    t.add_argument("--backbone", help="ESM-2 directory or hub name, e.g. facebook/esm2_t6_8M_UR50D")
    t.add_argument("--allow-download", action="store_true", help="let transformers fetch the backbone")
    t.add_argument("--tiny-random", action="store_true", help="random tiny ESM backbone (smoke test only)")
    t.add_argument("--full-finetune", action="store_true", help="train all weights instead of LoRA")
    t.add_argument("--lora-r", type=int, default=8, help="esm: LoRA rank")
    t.add_argument("--lora-alpha", type=int, default=16, help="esm: LoRA scaling alpha")
    t.add_argument("--lora-dropout", type=float, default=0.05, help="esm: dropout on the LoRA adapters")
    t.add_argument("--max-residues", type=int, default=1022, help="esm: residues per input (ESM-2's limit: 1022)")
    t.add_argument("--long-mode", choices=["truncate", "window"], default="truncate",
                   help="esm: longer proteins are truncated, or scored in overlapping windows and averaged")
    t.add_argument("--epochs", type=int, default=5, help="esm: training epochs")
    t.add_argument("--batch-size", type=int, default=8, help="esm: proteins per batch")
    t.add_argument("--lr", type=float, default=None,
                   help="esm: learning rate (default: 5e-4 with LoRA, 1e-4 for full fine-tuning)")
    t.add_argument("--seed", type=int, default=0, help="random seed (CV folds, initialisation, batches)")
    t.add_argument("--quiet", action="store_true", help="no progress output")
    add_json_arg(t, "the training summary (model choice, CV metrics per layer)")
    add_device_arg(t, amp=True)
    t.set_defaults(func=cmd_protein_train)

    q = ps.add_parser("predict", help="TF or not (DNA-binding domains first) and, for predicted TFs, P(TFPM) for "
                      "each protein of a FASTA file")
    q.add_argument("fasta", metavar="FASTA", help="protein FASTA")
    q.add_argument("--out", "-o", default="-", help="output TSV: id, p_tf, is_tf, p_tfpm, is_tfpm, n_dbd, dbds, "
                   "tf_class, inferred, evidence ('-' = standard output)")
    q.add_argument("--checkpoint", metavar="DIR", default=None,
                   help="model directory written by `tfscope protein train` (default: the shipped offline model)")
    q.add_argument("--tf-threshold", type=float, default=None, help="layer-1 score cut-off for is_tf and layer 2 "
                   "(default: the layer-1 model's CV-chosen threshold, 0.370 for the shipped model, whose score is 0.5 "
                   "or more for every protein with a DNA-binding domain)")
    q.add_argument("--tfpm-threshold", type=float, default=None, help="P(TFPM) cut-off for is_tfpm (default: the "
                   "layer-2 model's CV-chosen threshold, 0.761 for the shipped model)")
    add_json_arg(q, "the predictions and thresholds")
    add_device_arg(q)
    add_allow_unverified_arg(q)
    q.add_argument("--force-protein", action="store_true", help="predict records that look like DNA (>= 90%% ACGTN)")
    q.add_argument("--no-dbd", action="store_true", help="leave out the DNA-binding-domain columns (n_dbd, dbds, "
                   "tf_class, inferred, evidence: pyhmmer DBDs, TF class and JASPAR matrices inferred from the "
                   "bundled 752 TFs)")
    q.set_defaults(func=cmd_protein_predict)

    d = ps.add_parser("domains", help="DNA-binding domains of each protein (pyhmmer over the 88 bundled Pfam DBD HMMs)")
    d.add_argument("fasta", metavar="FASTA", help="protein FASTA")
    d.add_argument("--out", "-o", default="-", help="output TSV, one row per domain: protein, family, accession, "
                   "start, end (1-based), evalue (independent), score (bits), seq_evalue, hmm_from, hmm_to, aligned "
                   "('-' = standard output)")
    d.add_argument("--evalue", type=float, default=1e-4, help="per-sequence E-value cut-off of a DBD family "
                   "(default 1e-4, AnimalTFDB's; E-values as hmmscan computes them over the 88 HMMs)")
    d.add_argument("--domain-evalue", type=float, default=0.01, help="conditional E-value cut-off of each domain "
                   "(default 0.01, CIS-BP's)")
    add_json_arg(d, "the hits per protein")
    d.add_argument("--force-protein", action="store_true", help="annotate records that look like DNA (>= 90%% ACGTN)")
    d.set_defaults(func=cmd_protein_domains)
