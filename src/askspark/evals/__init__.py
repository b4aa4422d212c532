"""Evaluation: run a suite of questions with reference answers through the real pipeline and score it.

``askspark eval SUITE`` (see :mod:`askspark.evals.cli`); suites are JSON lines (:mod:`askspark.evals.suite`);
running is in :mod:`askspark.evals.run`, the expected results in :mod:`askspark.evals.reference`,
the report in :mod:`askspark.evals.report`; the comparison rules are :mod:`askspark.results.compare`.
"""

from askspark.evals.report import Report, to_markdown
from askspark.evals.run import EvalRun
from askspark.evals.suite import Question, load_suite, select
from askspark.results.compare import compare

__all__ = ["EvalRun", "Question", "Report", "compare", "load_suite", "select", "to_markdown"]
