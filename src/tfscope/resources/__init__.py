"""The one locator of the data bundled inside tfscope (provenance in ``README.md`` beside this file).

Every bundled file or directory has a short name in :data:`BUNDLED`; library code, CLIs, benchmarks and scripts
find it with :func:`resource` (never with ``Path(__file__)`` arithmetic of their own).

==================== ============================================== ===============================================
name                 path under ``tfscope/resources``               what
==================== ============================================== ===============================================
``snr_tables``       ``snr/``                                       BertSNR tables of KLF4, E2F1, FOXK1 (``<TF>.tsv.gz``)
``example_regions``  ``example_regions.fa``                         six stitched real hg19 regions (the demo input)
``example_sites``    ``example_sites.bed``                          known sites in those regions
``example_windows``  ``example_windows.tsv``                        the windows each region was stitched from
``zoo``              ``zoo/``                                       scanning zoos: ``zoo/genomic``, ``zoo/shuffled/<TF>``
``backbone``         ``backbone/``                                  k-mer DNA BERT for BertSNR (DNABERT layout)
``tfclass_model``    ``family/knn_kmer/``                           default TF-class-from-motif checkpoint
``protein_model``    ``protein/default_model/``                     default two-layer protein model
``protein_layer2``   ``protein_layer2/``                            methyl-SELEX calls joined to proteins (layer 2)
``protein_dbd``      ``protein_dbd/``                               Pfam DBD HMMs, 752 JASPAR-linked TFs, CIS-BP models
``igv_js``           ``igv/igv.iife.js``                            igv.js 3.1.4 (MIT), inlined in the HTML reports
``family_extra``     ``family_extra/extra_motifs.json.gz``          non-JASPAR motifs with TFClass labels (issue 33)
``anytf``            ``anytf/``                                     motif-conditioned network + LGO calibration (issue 41)
``int8_calibration`` ``int8_calibration.fa``                        fixed DNA that sets the int8 runtime's activation scales
==================== ============================================== ===============================================
"""

from __future__ import annotations

from pathlib import Path

BUNDLED: dict[str, str] = {
    "snr_tables": "snr",
    "example_regions": "example_regions.fa",
    "example_sites": "example_sites.bed",
    "example_windows": "example_windows.tsv",
    "zoo": "zoo",
    "backbone": "backbone",
    "tfclass_model": "family/knn_kmer",
    "protein_model": "protein/default_model",
    "protein_layer2": "protein_layer2",
    "protein_dbd": "protein_dbd",
    "igv_js": "igv/igv.iife.js",
    "family_extra": "family_extra/extra_motifs.json.gz",
    "anytf": "anytf",
    "int8_calibration": "int8_calibration.fa",
}


def resources_dir() -> Path:
    """Directory of the data bundled inside the package."""
    return Path(__file__).parent


def resource(name: str, *parts: str) -> Path:
    """Path of the bundled resource ``name`` (see :data:`BUNDLED`), optionally joined with ``parts``.

    Parameters
    ----------
    name : str
        Short name, e.g. ``"zoo"``, ``"backbone"``, ``"tfclass_model"``, ``"protein_model"``.
    *parts : str
        Sub-path inside it, e.g. ``resource("zoo", "shuffled", "KLF4")``.

    Raises
    ------
    KeyError
        For an unknown name (the message lists the known ones).
    """
    if name not in BUNDLED:
        raise KeyError(f"unknown bundled resource {name!r}; known: {', '.join(BUNDLED)}")
    return resources_dir().joinpath(BUNDLED[name], *parts)
