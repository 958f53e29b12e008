"""Temporary re-export (issue 43 house move): import from tfscope.scan.engine, tfscope.scan.models, tfscope.scan.stream, tfscope.scan.frame instead; removed before this release ships."""

from tfscope.io.tracks import write_bedgraphs, write_browser_tracks, write_tracks_tsv  # noqa: F401
from tfscope.scan.engine import *  # noqa: F401,F403
from tfscope.scan.frame import *  # noqa: F401,F403
from tfscope.scan.models import *  # noqa: F401,F403
from tfscope.scan.stream import *  # noqa: F401,F403
