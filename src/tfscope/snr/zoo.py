"""Temporary re-export (issue 43 house move): import from tfscope.zoo.registry instead; removed before this release ships."""

from tfscope.zoo.registry import *  # noqa: F401,F403
