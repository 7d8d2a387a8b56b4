"""`vllm serve` (CPU build, its own venv: bench/vllm_serve.py setup) driven by our openai backend equals the hf
backend under greedy decoding, and honours the JSON schema. Skipped, with the reason, where that venv is absent."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))
from vllm_serve import export_smollm2, missing, served  # noqa: E402

from cts.annotation.backends.hf import HFBackend  # noqa: E402
from cts.annotation.backends.openai import OpenAIBackend  # noqa: E402
from cts.annotation.parsing import parse_output  # noqa: E402
from cts.annotation.prompts import Prompt  # noqa: E402

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))
NOTES = ["Fever and cough began two days before admission. Ceftriaxone was started on admission. "
         "She was intubated on hospital day 3 and discharged home on day 7.",
         "Chest pain started 6 hours before arrival. Troponin was elevated at admission; a stent was placed the "
         "next day."]
SETTINGS = dict(max_new_tokens=48, temperature=0.0, batch_size=2, max_prompt_tokens=1024, structured=False)


def test_vllm_serve_equals_hf_under_greedy_decoding(tmp_path):
    from omegaconf import OmegaConf

    prompt = Prompt.from_config(OmegaConf.load(ROOT / "conf/annotate/prompt/timeline.yaml"))
    chats = [prompt.messages(note) for note in NOTES]
    model = export_smollm2()
    local = HFBackend(model=str(model), dtype="float32", **SETTINGS).generate(chats)
    with served(model, port=8017, log=tmp_path / "vllm.log") as url:
        remote = OpenAIBackend(model="smollm2", base_url=url, timeout_s=600, request_budget_s=900,
                               **SETTINGS).generate(chats)
        structured = OpenAIBackend(model="smollm2", base_url=url, timeout_s=600, request_budget_s=900,
                                   **{**SETTINGS, "structured": True}).generate(chats)
    assert [g.text for g in remote] == [g.text for g in local]
    # vLLM counts the end-of-sequence token as generated, the hf backend does not
    assert all(0 <= r.completion_tokens - h.completion_tokens <= 1 for r, h in zip(remote, local))
    for generation in structured:  # the server enforced the schema: every complete item is an event
        assert not parse_output(generation.text).rejects or generation.finish_reason == "length"
