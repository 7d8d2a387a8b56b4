"""LLM annotation: prompts, backends (hf, vllm, openai), tolerant parsing, a resumable sharded runner,
consolidation into the event table, and evaluation against reference timelines."""
