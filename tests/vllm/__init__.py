"""Scripts that run under the separate vLLM interpreter (driven by tests/test_backend_vllm.py)."""
