"""The self-contained HTML report (:func:`tfscope.report.html.write_report`); its figures come from
:mod:`tfscope.plot`."""
