"""Variant effects on TF binding: REF/ALT scoring over the zoo or any checkpoint, an empirical null, VCF in and out
(docs/variants.md). ``score_variants`` is the Python entry point; ``tfscope variants`` the command.
"""

from .run import score_variants, variants_to_files

__all__ = ["score_variants", "variants_to_files"]
