"""Temporary re-export (issue 43 house move): import from tfscope.scan.calls instead; removed before this release ships."""

from tfscope.scan.calls import *  # noqa: F401,F403
