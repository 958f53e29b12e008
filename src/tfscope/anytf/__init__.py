"""Any TF in one scan: every JASPAR (or user) matrix through one motif-conditioned network, with a PWM floor.

Rooms (small modules of plain functions):

- :mod:`.motifs` -- matrices: JASPAR 2024 CORE vertebrates (pyjaspar, offline) or a user MEME/JASPAR/TRANSFAC file;
  names and matrix IDs resolvable for ``--tfs``; information content.
- :mod:`.candidates` -- loose PWM hits (memelite FIMO, p < 1e-3, both strands) and their per-candidate features.
- :mod:`.model` -- :class:`~tfscope.anytf.model.MotifConditionedNet`, the network that rescores candidates from the
  matrix and the sequence context (it never sees a TF's identity).
- :mod:`.data` -- genome windows, true sites and labelled candidates of the zoo TFs (training and benchmarks).
- :mod:`.train` -- training through tfscope's one loop (:func:`tfscope.train.fit`) and checkpoint format.
- :mod:`.calibrate` -- leave-group-out precision maps, p/q-values, the PWM floor decision.
- :mod:`.scan` -- :func:`~tfscope.anytf.scan.scan_motifs`, the one entry point (calls with an ``evidence`` column).

Design and measured numbers: ``docs/any_tf.md``.
"""

from __future__ import annotations

EVIDENCE = ("trained", "motif-conditioned", "pwm")
