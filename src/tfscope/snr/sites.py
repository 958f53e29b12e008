"""Temporary re-export (issue 43 house move): import from tfscope.zoo.sites instead; removed before this release ships."""

from tfscope.zoo.sites import *  # noqa: F401,F403
