"""socialbias: persona-conditioned social-bias measurement for LLMs on BBQ.

Pipeline (each stage a module, each passing plain pandas tables):
``bbq_adapters`` (items) -> ``socialbias.expand`` (prompts) -> ``socialbias.backends`` (answers)
-> ``socialbias.store`` (responses) -> ``metrics`` (TB, BAmt, PB, BBQ scores) -> ``socialbias.graph``.

Method: Shin et al., "Ask LLMs Directly, 'What shapes your bias?': Measuring Social Bias in Large
Language Models", Findings of ACL 2024. Data: BBQ, Parrish et al., Findings of ACL 2022 (CC BY 4.0).

Importing this package is cheap: engines (torch, transformers, vllm) are imported lazily by the
backend that needs them.
"""

__version__ = "0.1.0"
