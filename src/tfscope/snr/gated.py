"""Temporary re-export (issue 43 house move): import from tfscope.zoo.gated instead; removed before this release ships."""

from tfscope.zoo.gated import *  # noqa: F401,F403
