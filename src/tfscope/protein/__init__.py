"""Protein layer."""
