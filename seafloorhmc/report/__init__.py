"""Reports: the pictures of a run, a prediction run or a sweep, and one ``report.html`` that shows them.

* :func:`write_run_report` — ``RUN/plots/*.png`` and ``RUN/report.html`` for a finished training run
  (:func:`try_write_run_report`: the same, logging instead of raising, for the end of training)
* :func:`write_prediction_report` — counts, review share and the most uncertain images of a predictions CSV
  (:func:`try_write_predict_report`: the one ``seafloorhmc predict`` writes beside its CSV)
* :func:`write_sweep_report` — metric-vs-fraction pictures and the mean ± std table of a sweep's results CSV
* :func:`write_report` — whichever of the three fits a path (the ``seafloorhmc report`` command)

Pages are plain HTML with inline CSS; run and sweep pictures are relative links into ``plots/``,
prediction thumbnails are embedded, so a report folder can be copied anywhere and still opens.
"""

from .dispatch import write_report
from .prediction_report import try_write_predict_report, write_prediction_report
from .run_report import try_write_run_report, write_run_report
from .sweep_report import write_sweep_report

__all__ = ["write_run_report", "try_write_run_report", "write_prediction_report", "try_write_predict_report",
           "write_sweep_report", "write_report"]
