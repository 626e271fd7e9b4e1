"""Every error agentrt raises on purpose, in one place.

Each carries its payload as attributes and says how to fix the problem in its message. The base
classes and `UnknownNameError` are defined in the scheduling core (`agentrt.runtime.scheduling.errors`,
which imports nothing else of the project) and re-exported here.
"""

from __future__ import annotations

from agentrt.runtime.scheduling.errors import AgentRTError as AgentRTError
from agentrt.runtime.scheduling.errors import ConfigError as ConfigError
from agentrt.runtime.scheduling.errors import NoLiveReplicaError as NoLiveReplicaError
from agentrt.runtime.scheduling.errors import UnknownNameError as UnknownNameError


class DecorationError(AgentRTError, TypeError):
    """A decorator was applied to something it does not support, or with unknown options."""


class NoRuntimeError(AgentRTError, RuntimeError):
    """A program, LLM call or tool call was made outside a running program/runtime."""


class CallError(AgentRTError):
    """An LLM or tool call failed. `call_id` and `call_name` name the call; `__cause__` is the reason."""

    def __init__(self, message: str, *, call_id: str, call_name: str) -> None:
        self.call_id, self.call_name, self.reason = call_id, call_name, message
        super().__init__(f"{call_name} ({call_id}): {message}")


class LLMCallError(CallError):
    """An LLM call failed in the engine."""


class ToolCallError(CallError):
    """A tool raised, or timed out."""


class ToolTimeoutError(ToolCallError):
    """A tool ran past its timeout; its process group was killed."""


class EngineDiedError(LLMCallError):
    """The engine's process died while the call was in flight, or before it was sent. Every later
    call fails the same way at once; results that finished are kept. Restart the run."""


class PromptTooLongError(LLMCallError):
    """A prompt does not fit the engine's context length or KV cache. Shorten it or raise the limit."""


class ProgramFailedError(AgentRTError):
    """A program raised. `program_id` names it; `__cause__` is what it raised."""

    def __init__(self, program_id: str, name: str, error: BaseException) -> None:
        self.program_id, self.program_name, self.error = program_id, name, error
        super().__init__(f"program {name} ({program_id}) failed: {type(error).__name__}: {error}")


class ProgramCancelledError(AgentRTError):
    """The program was cancelled before it finished."""

    def __init__(self, program_id: str, name: str) -> None:
        self.program_id, self.program_name = program_id, name
        super().__init__(f"program {name} ({program_id}) was cancelled")


class SandboxError(AgentRTError, PermissionError):
    """A file tool was asked for a path outside its sandbox root."""


class TraceFormatError(AgentRTError, ValueError):
    """A trace line is malformed. `path`, `line` and `field` say where."""

    def __init__(self, path: str, line: int, field: str, message: str) -> None:
        self.path, self.line, self.field = path, line, field
        super().__init__(f"{path}:{line}: field {field!r}: {message} (use --skip-bad-lines to skip such lines)")


class EngineError(AgentRTError, RuntimeError):
    """The engine could not start or serve; the message says why and what to do."""


class ReplicaDiedError(EngineError):
    """An engine replica died (its process or Ray actor is gone, or it was stopped) while a call
    was in flight there. `replica` is its index. The call failed; the program's next call is routed
    to a live replica (re-prefilling its context there), and the other replicas keep serving."""

    def __init__(self, replica: int, reason: str) -> None:
        self.replica = replica
        super().__init__(f"engine replica {replica} died: {reason}. Calls in flight there failed; retry the "
                         "call (it is routed to a live replica) or restart the replica")


class CommandTimeoutError(ToolTimeoutError):
    """A `bash` or `python` tool's command ran past its timeout; its whole process group was
    killed. `command`, `timeout` (s) and the partial `output` are attributes."""

    def __init__(self, command: str, timeout: float, output: str, *, call_id: str, call_name: str) -> None:
        self.command, self.timeout, self.output = command, timeout, output
        super().__init__(f"command timed out after {timeout:g} s and its process group was killed: "
                         f"{command[:200]!r}. Give a larger timeout= or make the command finish sooner "
                         "(e.g. `timeout 10 ...`, fewer iterations, no interactive programs)",
                         call_id=call_id, call_name=call_name)


class FileEditError(AgentRTError, ValueError):
    """`str_replace` could not make its edit: the text to replace occurs zero or several times."""


class InputsFormatError(ConfigError):
    """A line of a `--inputs` file does not fit the program. `path` and `line` say where."""

    def __init__(self, path: str, line: int, message: str) -> None:
        self.path, self.line = path, line
        super().__init__(f"{path}:{line}: {message}")


class ProgramTimeoutError(AgentRTError, TimeoutError):
    """A program ran past its timeout (`Runtime(program_timeout=...)`, `--timeout`) and was stopped.
    `timeout` is in runtime seconds (virtual under the simulator)."""

    def __init__(self, program_id: str, name: str, timeout: float) -> None:
        self.program_id, self.program_name, self.timeout = program_id, name, timeout
        super().__init__(f"program {name} ({program_id}) ran past its timeout of {timeout:g} s and was "
                         "stopped; raise --timeout or make the program finish sooner")


class RunDeadlineError(AgentRTError, TimeoutError):
    """The run's wall-clock deadline (`Runtime(deadline=...)`, `--deadline`) passed while the
    program was running or before it started."""

    def __init__(self, program_id: str, name: str, deadline: float) -> None:
        self.program_id, self.program_name, self.deadline = program_id, name, deadline
        super().__init__(f"program {name} ({program_id}) was stopped: the run's deadline of {deadline:g} wall "
                         "seconds passed; raise --deadline or run fewer programs")


class DeadlockError(AgentRTError, RuntimeError):
    """On virtual time every task waited with no deadline and no real work in progress: the program
    waits on something that can never happen. `waiting_on` says what it was waiting for."""

    def __init__(self, program_id: str, name: str, waiting_on: str) -> None:
        self.program_id, self.program_name, self.waiting_on = program_id, name, waiting_on
        super().__init__(f"deadlock: program {name} ({program_id}) waits on {waiting_on}, and nothing else can "
                         "run; it awaits something no task will ever set (an Event, a stream, sleep_forever)")


class DeadlinePassedError(AgentRTError, TimeoutError):
    """`--deadline` passed between the runs of a benchmark; the runs that finished are kept."""


class AllProgramsFailedError(AgentRTError):
    """Every program of a run failed. `causes` maps each distinct error to how many programs it hit."""

    def __init__(self, what: str, causes: dict[str, int]) -> None:
        self.causes = dict(causes)
        top = sorted(self.causes.items(), key=lambda kv: -kv[1])[:3]
        super().__init__(f"{what}: all {sum(self.causes.values())} programs failed; top causes: "
                         + "; ".join(f"{n} x {cause}" for cause, n in top))


class TraceNotFoundError(ConfigError, FileNotFoundError):
    """No trace file at the path, and no bundled trace of that name; the message lists the bundled ones."""

class ServeError(AgentRTError):
    """A request to `agentrt serve` cannot be served; sent as an OpenAI-shaped error body.

    status: the HTTP status; kind: OpenAI's error `type`; param: the request field at fault (or
    None); code: a machine-readable code; retry_after: seconds for a `Retry-After` header (429)."""

    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, retry_after: int | None = None) -> None:
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code
        self.retry_after = retry_after
        super().__init__(message)
