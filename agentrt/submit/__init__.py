"""`agentrt submit`: run many instances of a user's program and report on them.

`loader` finds the program in a file and reads its inputs, `agentrt.engines` builds the engine,
`driver` submits the instances (all at once or as Poisson arrivals) and writes each result as it
finishes, `report` draws the progress bar and the summary table.
"""

from __future__ import annotations

from agentrt.engines import ENGINES, EngineChoice, engine_from_argv, make_engine

__all__ = ["ENGINES", "EngineChoice", "engine_from_argv", "make_engine"]
