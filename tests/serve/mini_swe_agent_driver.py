"""Run mini-swe-agent instances at once against a server, as a user would: a separate process,
its own config (mini.yaml), its local environment, the model pointed at the server through
LiteLLM's OpenAI configuration, no program header. Prints one JSON list of exit statuses.

    python mini_swe_agent_driver.py URL MODEL WORKDIR STEP_LIMIT MAX_FORMAT_ERRORS TASK...
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# offline against a local endpoint (see /work/shared/clients.md); read when the packages import
os.environ.update({"MSWEA_CONFIGURED": "true", "MSWEA_COST_TRACKING": "ignore_errors",
                   "LITELLM_LOCAL_MODEL_COST_MAP": "True"})


def make_agent(url: str, model_name: str, workdir: str, **agent_options: Any) -> Any:
    from minisweagent.agents.default import DefaultAgent
    from minisweagent.config import get_config_from_spec
    from minisweagent.environments.local import LocalEnvironment
    from minisweagent.models.litellm_model import LitellmModel

    config = get_config_from_spec("mini.yaml")
    model = LitellmModel(**config["model"] | {"model_name": f"openai/{model_name}", "model_kwargs": {
        "api_base": f"{url}/v1", "api_key": "x", "drop_params": True}})
    env = LocalEnvironment(**config["environment"] | {"cwd": workdir, "timeout": 30})
    return DefaultAgent(model, env, **config["agent"] | agent_options)


def main(argv: list[str]) -> None:
    url, model_name, workdir, step_limit, max_errors, *tasks = argv
    agents = [make_agent(url, model_name, workdir, step_limit=int(step_limit),
                         max_consecutive_format_errors=int(max_errors)) for _ in tasks]
    with ThreadPoolExecutor(len(tasks)) as pool:
        results = list(pool.map(lambda pair: pair[0].run(pair[1]), zip(agents, tasks)))
    print(json.dumps([r.get("exit_status") for r in results]))


if __name__ == "__main__":
    main(sys.argv[1:])
