"""Retrieved passages in the annotator: packed into prompts within the budget (a long one cut like a note), sent
with the passages prompt and "[...]" between them; a passage of the whole note is sent as the whole note."""

import re
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from cts.annotation.prompts import PASSAGE_SEPARATOR
from cts.annotation.runner import run
from cts.annotation.windows import plan_passages

from .helpers import write_notes

PROMPTS = Path(__file__).resolve().parents[2] / "conf" / "annotate" / "prompt"


def words(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r"\S+", text)]


def test_passages_are_packed_in_note_order_and_a_long_one_is_cut():
    text = " ".join(f"w{i}" for i in range(100))
    spans = words(text)
    at = [s for s, _ in spans]
    first, second, long = (at[0], spans[9][1]), (at[20], spans[29][1]), (at[40], spans[89][1])
    groups = plan_passages(text, spans, [second, long, first], budget=25, overlap=0.2)
    assert groups[0] == [first, second]  # 10 + 10 tokens ≤ 25: one prompt, in note order
    assert all(len(group) == 1 for group in groups[1:])  # the 50-token passage: cut, one piece per prompt
    cut = [group[0] for group in groups[1:]]
    assert cut[0][0] == long[0] and cut[-1][1] == long[1] and len(cut) > 1
    assert all(len([s for s in spans if a <= s[0] < b]) <= 25 for a, b in cut)
    assert all(b > c for (_, b), (c, _) in zip(cut, cut[1:]))  # the cuts overlap
    assert plan_passages(text, spans, [first, second], budget=25, overlap=0.1) == [[first, second]]


def test_annotator_sends_the_passages_and_whole_notes_whole(tmp_path, fake_server):
    notes = write_notes(tmp_path / "notes", 2)
    text = (notes / "100.txt").read_text()
    a, b = text.index("Chest pain"), text.index("Metoprolol")
    a_end, b_end = text.index(".", a), text.index(".", b)
    whole = (notes / "101.txt").read_text()
    pd.DataFrame({"hadm_id": [100, 100, 100, 101], "note_id": ["100", "100", "100", "101"],
                  "chunk_id": [0, 1, 2, 0], "start": [a, a + 6, b, 0], "end": [a + 5, a + 10, b + 10, 5],
                  "text": ["Chest", "pain", "Metoprolol", "x"], "rank": [1, 2, 3, 1],
                  "passage_start": [a, a, b, 0], "passage_end": [a_end, a_end, b_end, len(whole)]}
                 ).to_parquet(tmp_path / "c.parquet")
    llm = OmegaConf.create({"_target_": "cts.annotation.backends.openai.OpenAIBackend", "model": "m",
                            "base_url": fake_server.url, "max_new_tokens": 64, "temperature": 0.0, "batch_size": 4,
                            "max_prompt_tokens": 2048, "window_overlap": 0.1, "concurrency": 1, "timeout_s": 5,
                            "max_retries": 1, "backoff_s": 0.01})
    run(task="events", input=str(notes), candidates=str(tmp_path / "c.parquet"), output=str(tmp_path / "out"),
        llm=llm, prompt=OmegaConf.load(PROMPTS / "timeline.yaml"), corpus_dir="unused",
        shard=OmegaConf.create({"index": None, "count": None}))
    prompts = sorted(r["messages"][1]["content"] for r in fake_server.requests)
    assert len(prompts) == 2
    excerpts = next(p for p in prompts if p.startswith("Read the excerpts"))
    assert f"{text[a:a_end]}{PASSAGE_SEPARATOR}{text[b:b_end]}" in excerpts
    assert text[:a].strip() not in excerpts  # text outside the passages is not sent
    whole_prompt = next(p for p in prompts if p.startswith("Read the discharge summary below and list its"))
    assert whole.strip() in whole_prompt
