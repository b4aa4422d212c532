"""The code contracts: what generated code defines and returns, by the engine family that runs it.

One object the prompt, the validator and the engines read (``engine.contract``). A :class:`Contract` is a
``str`` enum, so ``contract == "ray"`` and APIs that take the name keep working.
"""

from __future__ import annotations

from enum import StrEnum


class Contract(StrEnum):
    """``answer(<first_arg>, tables)`` returning :attr:`returns`."""

    SPARK = "spark"
    RAY = "ray"

    @property
    def first_arg(self) -> str:
        """The name of ``answer``'s first parameter: the ``spark`` session or the ``ray`` module."""
        return self.value

    @property
    def returns(self) -> str:
        """What ``answer`` must return, as the prompt and the hints name it."""
        return "a ray.data.Dataset" if self is Contract.RAY else "a Spark DataFrame"

    @property
    def prompt_style(self) -> str | None:
        """The prompt style the contract forces (``ray``), or None: the model's own style."""
        return "ray" if self is Contract.RAY else None
