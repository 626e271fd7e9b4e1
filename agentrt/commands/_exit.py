"""How the CLI ends: one line and an exit status for every error it expects, never a traceback.

    0    every program finished ok
    1    some programs failed (all of them: the line names the top causes), or --deadline passed
    2    a user error: the line names the flag, file, line or field, and the fix
    130  interrupted (SIGINT), 143 terminated (SIGTERM); what finished is kept

Errors arrive wrapped in the task groups' exception groups; the first interrupt or agentrt error
inside is what gets reported. Anything else is a bug in agentrt and keeps its traceback.
"""

from __future__ import annotations

import sys

from agentrt.commands._signals import Received
from agentrt.exceptions import AgentRTError, AllProgramsFailedError, DeadlinePassedError


_notes: list[str] = []


def note_on_exit(text: str) -> None:
    """Add `text` (where finished results were kept) to the line printed if the command fails."""
    _notes.append(text)


def exit_status(command: str, exc: BaseException, received: Received) -> int:
    """Print the one-line report of `exc` and return the exit status; re-raise what is unexpected."""
    found = expected(exc)
    notes = "".join(f"; {n}" for n in _notes)
    _notes.clear()
    if found is None:
        raise exc
    if isinstance(found, KeyboardInterrupt):
        print(f"agentrt {command}: {received.message}{notes}", file=sys.stderr)
        return received.exit_code
    print(f"agentrt {command}: error: {found}{notes}", file=sys.stderr)
    return 1 if isinstance(found, (AllProgramsFailedError, DeadlinePassedError)) else 2


def expected(exc: BaseException) -> BaseException | None:
    """The interrupt or agentrt error that `exc` is or wraps (interrupts first), else None."""
    for kind in (KeyboardInterrupt, AgentRTError):
        if isinstance(exc, kind):
            return exc
        if isinstance(exc, BaseExceptionGroup) and (group := exc.subgroup(kind)) is not None:
            return _first_leaf(group)
    return None


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first
