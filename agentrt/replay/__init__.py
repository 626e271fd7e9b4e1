"""Trace replay: the trace format, workloads, the replay driver, metrics and the benchmark."""

from agentrt.replay.driver import ReplayResult, replay, trace_program
from agentrt.replay.metrics import ProgramMetrics, Summary, summarize
from agentrt.replay.trace import LLMStep, ToolStep, TraceProgram, iter_trace, load_trace
from agentrt.replay.workload import Scaling, make_scaling, offline_arrivals, poisson_arrivals

__all__ = ["LLMStep", "ProgramMetrics", "ReplayResult", "Scaling", "Summary", "ToolStep", "TraceProgram",
           "iter_trace", "load_trace", "make_scaling", "offline_arrivals", "poisson_arrivals", "replay",
           "summarize", "trace_program"]
