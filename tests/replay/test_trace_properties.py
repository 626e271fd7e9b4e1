"""The trace loader under generated input (hypothesis): any line, valid JSON or not, either loads
or fails with one TraceFormatError naming file, line and field; never another exception."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentrt.exceptions import TraceFormatError
from agentrt.replay import load_trace

numbers = st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True))
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8))
llm_step = st.fixed_dictionaries({"kind": st.just("llm"), "input_tokens": numbers, "output_tokens": numbers},
                                 optional={"new_input_tokens": numbers})
tool_step = st.fixed_dictionaries({"kind": st.just("tool"), "name": st.text(max_size=5)},
                                  optional={"duration_s": numbers})
steps = st.lists(st.one_of(llm_step, tool_step, st.dictionaries(st.text(max_size=5), scalars, max_size=3), scalars),
                 max_size=4)
program = st.fixed_dictionaries({}, optional={"program_id": st.one_of(st.text(max_size=5), scalars),
                                              "steps": st.one_of(steps, scalars), "meta": scalars})
line = st.one_of(program.map(lambda d: json.dumps(d)), st.text(max_size=30),
                 st.binary(max_size=30).map(lambda b: b.decode("latin-1")))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(line, min_size=1, max_size=5))
def test_any_trace_loads_or_fails_with_one_located_error(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes("\n".join(x.replace("\n", " ").replace("\r", " ") for x in lines).encode("utf-8", "surrogateescape"))
    try:
        programs = load_trace(path)
    except TraceFormatError as exc:
        assert exc.path == str(path) and exc.line >= 0 and exc.field
        assert "\n" not in str(exc)
        return
    for p in programs:
        for s in p.steps:
            assert all(getattr(s, f, 0) is None or 0 <= getattr(s, f, 0) < float("inf")
                       for f in ("input_tokens", "output_tokens", "new_input_tokens", "duration_s"))
