"""Evaluation: run a suite of questions with reference answers through the real pipeline and score it.

``askspark eval SUITE`` (see :mod:`askspark.evals.cli`); suites are JSON lines (:mod:`askspark.evals.suite`);
running and scoring is in :mod:`askspark.evals.run`.
"""

from askspark.evals.run import EvalRun, Report, compare, to_markdown
from askspark.evals.suite import Question, load_suite, select

__all__ = ["EvalRun", "Question", "Report", "compare", "load_suite", "select", "to_markdown"]
