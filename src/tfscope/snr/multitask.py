"""Temporary re-export (issue 43 house move): import from tfscope.zoo.multitask instead; removed before this release ships."""

from tfscope.zoo.multitask import *  # noqa: F401,F403
