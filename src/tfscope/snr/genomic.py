"""Temporary re-export (issue 43 house move): import from tfscope.zoo.genomic instead; removed before this release ships."""

from tfscope.zoo.genomic import *  # noqa: F401,F403
