"""Figures and the self-contained HTML report (:func:`tfscope.report.html.write_report`)."""
