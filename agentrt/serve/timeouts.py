"""Per-request timeouts of `agentrt serve`: a server-wide default and a per-request header.

A call that has not answered within its limit is aborted in the engine (its KV blocks are freed
at the next iteration boundary) and answered with a 504 in OpenAI's error shape that names the
limit and where it came from. The limit is in wall seconds, whatever `--time-scale` is: it is how
long a client waits, like the OpenAI SDK's own `timeout`, but unlike that one it also frees what
the server holds for the call (a client timing out only disconnects).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from agentrt.exceptions import ServeError

TIMEOUT_HEADER = "x-agentrt-timeout"
_HEADER_NAME = "X-Agentrt-Timeout"


@dataclass(slots=True, frozen=True)
class RequestTimeout:
    """A call's limit (wall seconds) and where it came from (the header or the server flag)."""

    seconds: float
    source: str

    def error(self) -> ServeError:
        return ServeError(504, f"the call did not finish within its timeout of {self.seconds:g} s ({self.source}); "
                          f"it was aborted and its KV freed; give a longer one with the {_HEADER_NAME} header "
                          "(seconds) or `agentrt serve --request-timeout`", kind="timeout_error", code="request_timeout")



def request_timeout(headers: Mapping[str, str], default: float | None) -> RequestTimeout | None:
    """The request's limit: its header, else the server's default (None: no limit).
    Raises ServeError (400) for a header that is not a positive finite number of seconds."""
    value = headers.get(TIMEOUT_HEADER)
    if value is None:
        return None if default is None else RequestTimeout(default, "the server's --request-timeout")
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ServeError(400, f"{_HEADER_NAME}: give the call's timeout in seconds, a number > 0 "
                         f"(got {value[:50]!r})", param=_HEADER_NAME, code="invalid_timeout")
    return RequestTimeout(seconds, f"the {_HEADER_NAME} header")
