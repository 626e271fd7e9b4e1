"""Never lose what finished: `replay` and `bench` stopped by SIGINT or SIGTERM keep every program
or run that ended (a JSON line each, written as it ended) and exit 130 / 143 with one line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

RATES = ",".join(str(0.05 * k) for k in range(1, 41))  # far more runs than can end before the signal


def wait_for_lines(path: Path, n: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not (
            path.exists() and path.read_text().count("\n") >= n):
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before the signal"


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a background job of a non-interactive shell starts


@pytest.mark.parametrize(("sig", "status", "said", "sigint_ignored"), [
    (signal.SIGINT, 130, "interrupted", False),
    (signal.SIGTERM, 143, "terminated (SIGTERM)", False),
    (signal.SIGTERM, 143, "terminated (SIGTERM)", True),  # `agentrt bench ... &` from a script
])
def test_a_stopped_bench_keeps_its_finished_runs(tmp_path: Path, sig: signal.Signals, status: int, said: str,
                                                 sigint_ignored: bool) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "agentrt", "bench", "swesmith-claude37", "--rates", RATES,
                             "--output", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_ignore_sigint if sigint_ignored else None)
    runs = tmp_path / "runs.jsonl"
    wait_for_lines(runs, 2, proc)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == status, stderr
    kept = [json.loads(line) for line in runs.read_text().splitlines()]
    assert len(kept) >= 2 and all(len(r["programs"]) == 5 and r["summary"]["num_programs"] == 5 for r in kept)
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == f"agentrt bench: {said}; kept {len(kept)} finished runs in {runs}"
