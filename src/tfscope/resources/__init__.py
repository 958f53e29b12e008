"""Locator of the data bundled inside tfscope (provenance in ``README.md`` beside this file).

Library code finds bundled files through :func:`resources_dir` (never through a CLI module).
"""

from __future__ import annotations

from pathlib import Path


def resources_dir() -> Path:
    """Directory of the data bundled inside the package (example regions, BertSNR tables, zoos, backbone, ...)."""
    return Path(__file__).parent
