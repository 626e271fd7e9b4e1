"""Session 8 experiment: run a benchmark script with agentrt replaced by an s8_walk.py variant.

    .venv/bin/python benchmarks/s8_with.py FLAGS SCRIPT [ARGS...]
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import s8_walk  # noqa: E402

from agentrt.runtime.scheduling import policies  # noqa: E402
from agentrt.runtime.scheduling.policies import PolicyName  # noqa: E402

flags = {f for f in sys.argv[1].split(",") if f and f != "-"}
policies.POLICY_CLASSES[PolicyName.AGENTRT] = s8_walk.walk_policy(flags)
s8_walk.patch_scheduler(flags)
script = sys.argv[2]
sys.argv = [script, *sys.argv[3:]]
runpy.run_path(script, run_name="__main__")
