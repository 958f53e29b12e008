"""Temporary re-export (issue 43 house move): import from tfscope.zoo.groups instead; removed before this release ships."""

from tfscope.zoo.groups import *  # noqa: F401,F403
