"""The vLLM engine: real vLLM v1 with agentrt's scheduler installed through `scheduler_cls`.

The only package that imports vllm, and only once an engine starts (`plugin` imports it at once:
it runs inside vLLM's engine-core process).
"""

from agentrt.engine_adapters.vllm.config import VLLMOptions
from agentrt.engine_adapters.vllm.engine import VLLMEngine, on_cpu
from agentrt.engine_adapters.vllm.records import CallRecord, StepRecord
from agentrt.engine_adapters.vllm.stats import VLLMStats
from agentrt.engine_adapters.vllm.tiny_model import write_tiny_model

__all__ = ["CallRecord", "StepRecord", "VLLMEngine", "VLLMOptions", "VLLMStats", "on_cpu", "write_tiny_model"]
