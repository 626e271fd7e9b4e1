"""Simulated results must not move when the simulator gets faster: save them, change the code, compare.

    .venv/bin/python benchmarks/sim_identity.py save DIR     # before a change
    .venv/bin/python benchmarks/sim_identity.py check DIR    # after it: exit 1 on any difference

Runs a fixed set of small deterministic simulations (under a minute of CPU together, each in its
own process, as a user would run them) and keeps their outputs in DIR: `agentrt replay` of 12
SWE-bench programs at 0.03 programs/s on 6,000 KV blocks under every policy, 24 mixed programs on
3 replicas under the agentrt and round-robin routers, 20 programs offline under agentrt, and
`sim_speed.py` (agentrt; plas with a shared system prompt) and `scale.py` (200 programs x 10
calls). `check` runs them again and compares everything but wall-clock fields (and fields added
to the outputs since the save).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
POLICIES = ["fcfs", "plas", "atlas", "mlfq", "continuum", "agentrt", "gittins", "oracle"]
WALL_CLOCK = re.compile(r"wall|cpu|elapsed|rss|output|path", re.I)  # keys that measure the machine


def runs(out: Path) -> dict[str, list[str]]:
    """Name -> command; a replay writes NAME.json, the others' stdout is kept as NAME.log."""
    replay = [sys.executable, "-m", "agentrt", "replay"]
    cmds = {f"swe-{p}": [*replay, "swebench-lite-deepseek-v3", "--limit", "12", "--rate", "0.03",
                         "--num-gpu-blocks", "6000", "--policy", p] for p in POLICIES}
    for name, router, policy in (("replicas-agentrt", "agentrt", "agentrt"), ("replicas-rr", "round-robin", "fcfs")):
        cmds[name] = [*replay, "mixed", "--programs", "24", "--replicas", "3", "--router", router, "--rate", "0.2",
                      "--num-gpu-blocks", "6000", "--policy", policy]
    cmds["offline-agentrt"] = [*replay, "swebench-lite-deepseek-v3", "--limit", "20", "--offline",
                               "--num-gpu-blocks", "5000", "--policy", "agentrt"]
    for name, cmd in cmds.items():
        cmd += ["--output", str(out / f"{name}.json")]
    cmds["sim-speed-agentrt"] = [sys.executable, str(HERE / "sim_speed.py"), "--limit", "20", "--policy", "agentrt"]
    cmds["sim-speed-plas"] = [sys.executable, str(HERE / "sim_speed.py"), "--limit", "20", "--policy", "plas",
                              "--system-prompt-tokens", "2000"]
    cmds["scale"] = [sys.executable, str(HERE / "scale.py"), "--programs", "200", "--calls", "10",
                     "--json", str(out / "scale.json")]
    return cmds


def run_all(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, cmd in runs(out).items():
        print(f"{name} ...", flush=True)
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        (out / f"{name}.log").write_text(done.stdout)


def _clean(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items() if not WALL_CLOCK.search(k)}
    if isinstance(x, list):
        return [_clean(v) for v in x]
    return x


def _content(path: Path) -> Any:
    if path.suffix == ".json":
        return _clean(json.loads(path.read_text()))
    if path.suffix == ".jsonl":  # one program per line, in the order they finished
        return [_clean(json.loads(line)) for line in path.read_text().splitlines()]
    if path.name.startswith("sim-speed"):  # its printed counts, without the wall-time line
        return [line for line in path.read_text().splitlines() if "wall" not in line]
    return None  # other logs print wall times only


def _like(now: Any, saved: Any) -> Any:
    """`now` without the fields `saved` lacks (added to the outputs since it was saved)."""
    if isinstance(now, dict) and isinstance(saved, dict):
        return {k: _like(v, saved[k]) for k, v in now.items() if k in saved}
    if isinstance(now, list) and isinstance(saved, list) and len(now) == len(saved):
        return [_like(a, b) for a, b in zip(now, saved)]
    return now


def differences(saved: Path, now: Path) -> list[str]:
    out = []
    for path in sorted(saved.iterdir()):
        expected = _content(path)
        if expected is None:
            continue
        got = _content(now / path.name)
        if path.suffix == ".jsonl":  # the same lines, whatever their order
            schema = expected[0] if expected else {}
            expected = sorted(json.dumps(line, sort_keys=True) for line in expected)
            got = sorted(json.dumps(_like(line, schema), sort_keys=True) for line in got)
        else:
            got = _like(got, expected)
        if json.dumps(expected, sort_keys=True) != json.dumps(got, sort_keys=True):  # NaN equals NaN here
            out.append(path.name)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["save", "check"])
    parser.add_argument("dir", type=Path)
    args = parser.parse_args()
    if args.action == "save":
        run_all(args.dir)
        print(f"saved in {args.dir}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        run_all(Path(tmp))
        diff = differences(args.dir, Path(tmp))
    print("identical" if not diff else "DIFFERENT: " + ", ".join(diff))
    sys.exit(1 if diff else 0)


if __name__ == "__main__":
    main()
