"""tfscope: deep learning on transcription factors (TFBS prediction, TF identity, interpretation).

Layout (see ``DESIGN`` in the README): ``io`` parses and validates inputs, ``data`` builds task datasets,
``models`` holds torch modules, ``train`` is the one training loop, ``metrics`` the one metrics module,
``checkpoint`` the one checkpoint format, and ``cli`` exposes every operation as a subcommand.
"""

__version__ = "0.1.0"
