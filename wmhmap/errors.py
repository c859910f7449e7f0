"""Errors that tell a researcher what went wrong, where, and what to do about it."""

from __future__ import annotations

from pathlib import Path


class WmhmapError(Exception):
    """Base class of every error wmhmap raises on purpose."""


class PlanError(WmhmapError):
    """The config and the cohort ask for a run the workflow cannot plan; the message
    says what to change."""


class InputError(WmhmapError):
    """A user-supplied input (image, table, config) cannot be used.

    The message always names what was expected and what was found; when known it
    also names the subject and the file, and it ends with what to do.

    Examples
    --------
    >>> str(InputError("image is 4-D, expected 3-D", subject="001", file="a.nii.gz",
    ...                fix="pass one volume"))
    'subject 001, file a.nii.gz: image is 4-D, expected 3-D. Fix: pass one volume.'
    """

    def __init__(
        self,
        problem: str,
        *,
        subject: str | None = None,
        file: str | Path | None = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.subject = subject
        self.file = None if file is None else str(file)
        self.fix = fix
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = []
        if self.subject is not None:
            where.append(f"subject {self.subject}")
        if self.file is not None:
            where.append(f"file {self.file}")
        text = (", ".join(where) + ": " if where else "") + self.problem.rstrip(".")
        if self.fix:
            text += ". Fix: " + self.fix.rstrip(".")
        return text + "."

    def for_subject(self, subject: str) -> InputError:
        """Return a copy of this error that also names ``subject``."""
        return InputError(self.problem, subject=subject, file=self.file, fix=self.fix)
