"""Temporary re-export (issue 43 house move): import from tfscope.scan.known instead; removed before this release ships."""

from tfscope.scan.known import *  # noqa: F401,F403
