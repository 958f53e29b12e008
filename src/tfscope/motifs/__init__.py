"""Motifs: JASPAR access (pyjaspar, offline), PWM log-odds scanning."""
