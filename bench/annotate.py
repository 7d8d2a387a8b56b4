"""Annotation throughput: batched generation versus one prompt at a time (the authors' way), and SmolLM2's scores.

    python bench/annotate.py [--prompts 8] [--batch-size 8] [--max-new-tokens 128] [--threads 1] [--eval-limit 10]
                             [--eval-max-prompt-tokens 2048] [--skip-eval] [--out logs/bench/annotate.json]
                             [--vllm-serve] [--tokens-notes 50] [--skip-tokens]
    python bench/annotate.py --vllm [--vllm-prompts 256]      # on a GPU with vLLM installed (see docs/annotation.md)

Part 1 loads SmolLM2-135M-Instruct once (hf backend, structured outputs on) and generates the same timeline prompts
(the first window of the first ``--prompts`` notes) twice: one at a time, then batched with left padding. Greedy
decoding both ways. ``--vllm-serve`` adds the same prompts through ``vllm serve`` (bench/vllm_serve.py).
Part 2 (tokens per note) counts prompt and completion tokens per note, and the reference events within reach, for
whole-note windows, our windows with their retrieved chunks, and one prompt per chunk (the paper's scheme).
Part 3 annotates the first ``--eval-limit`` demo admissions and ../shared/data/timelines/t2s2_sepsis10 with free-text
and with grammar-constrained decoding, and scores both against the references (demo: its own event table; t2s2:
the Llama-3.3-70B timelines): rejects per note, event P/R/F1 with 95% intervals.
``--vllm`` instead measures vLLM notes/s per GPU with a Llama-3.1-8B-shaped model with dummy weights.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from bench_io import RESULTS, write_result

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
T2S2 = ROOT.parent / "shared" / "data" / "timelines" / "t2s2_sepsis10"
# Llama-3.1-8B's shape (config.json of meta-llama/Llama-3.1-8B-Instruct), for dummy-weight throughput runs.
LLAMA_8B = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
            "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
            "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "vocab_size": 128256,
            "torch_dtype": "bfloat16", "hidden_act": "silu", "tie_word_embeddings": False,
            "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 8192, "rope_type": "llama3"}}


def timeline_prompts(backend, notes_path: Path, count: int) -> list[list[dict]]:
    """The first window's timeline prompt for each of the first ``count`` notes."""
    from omegaconf import OmegaConf

    from cts.annotation.prompts import Prompt
    from cts.annotation.tasks import EventsTask
    from cts.data.notes import read_notes

    task = EventsTask(Prompt.from_config(OmegaConf.load(ROOT / "conf/annotate/prompt/timeline.yaml")), backend)
    prompts = []
    for note in read_notes(notes_path):
        prompts.append(task.requests(note, None).messages[0])
        if len(prompts) == count:
            return prompts
    raise SystemExit(f"{notes_path}: fewer than {count} notes")


def measure(backend, prompts: list[list[dict]], batch_size: int) -> tuple[dict, list[str]]:
    backend.batch_size = batch_size
    started = time.perf_counter()
    generations = backend.generate(prompts)
    seconds = time.perf_counter() - started
    tokens = sum(g.completion_tokens for g in generations)
    return {"batch_size": batch_size, "prompts": len(prompts), "seconds": round(seconds, 2),
            "prompts_per_s": round(len(prompts) / seconds, 4), "generated_tokens": tokens,
            "generated_tokens_per_s": round(tokens / seconds, 2),
            "prompt_tokens": sum(g.prompt_tokens for g in generations)}, [g.text for g in generations]


def evaluate_annotation(backend, notes: Path, reference: Path, limit: int, work: Path) -> dict:
    """Annotate the first ``limit`` admissions of ``notes`` (whole notes, windowed) with the loaded model through the
    runner, then score against the reference timelines; rejects and tokens per note from the runner's counts."""
    from omegaconf import OmegaConf

    from cts.annotation.runner import Runner
    from cts.annotation.tasks import EventsTask
    from cts.reports.evaluation import evaluate
    from cts.sharding import Shard

    runner = Runner("events", work / "predictions", OmegaConf.create({}),
                    OmegaConf.load(ROOT / "conf/annotate/prompt/timeline.yaml"))
    runner.task = EventsTask(runner.prompt, backend)  # reuse the loaded model
    summary = runner.run(notes, None, Shard(0, 1), limit)
    scores = evaluate(work / "predictions", reference, n_resamples=1000)["overall"]
    scores["notes_scored"] = scores["notes"] - len(scores.pop("missing_predictions"))
    counts, written = summary["counts"], max(1, summary["counts"].get("written", 0))
    per_note = {"rejects_per_note": round(counts.get("rejects", 0) / written, 2),
                "events_per_note": round(counts.get("events", 0) / written, 2),
                "prompt_tokens_per_note": round(counts.get("prompt tokens", 0) / written, 1),
                "completion_tokens_per_note": round(counts.get("completion tokens", 0) / written, 1),
                "hit_token_limit": counts.get("hit token limit", 0)}
    return {"run": {k: summary[k] for k in ("seconds", "notes_per_s", "tokens_per_s", "counts")},
            "per_note": per_note, "scores": scores}


def demo_reference(folder: Path, table: Path, notes: Path, limit: int) -> Path:
    """``<hadm_id>.bsv`` reference timelines of the first ``limit`` demo admissions, from the demo's event table."""
    from cts.data.event_table import read_event_table
    from cts.data.notes import read_notes
    from cts.data.timelines import format_timeline

    events = read_event_table(table, time_policy="zero")
    folder.mkdir(parents=True, exist_ok=True)
    wanted = []
    for note in read_notes(notes):
        if note.hadm_id not in wanted:
            wanted.append(note.hadm_id)
        if len(wanted) == limit:
            break
    for hadm_id, group in events[events["hadm_id"].isin(wanted)].groupby("hadm_id", observed=True):
        lines = [(" ".join(e.replace("|", " ").split()), t) for e, t in zip(group["event"].astype(str), group["time"])]
        (folder / f"{hadm_id}.bsv").write_text(format_timeline(lines))
    return folder


def structured_comparison(backend, sets: dict[str, tuple[Path, Path]], limit: int, work: Path) -> dict:
    """Free-text against grammar-constrained decoding (same model, prompts and notes), on each set of notes."""
    grammar, result = backend.grammar, {}
    for name, (notes, reference) in sets.items():
        for label, constraint in (("free", None), ("structured", grammar)):
            backend.grammar = constraint
            result[f"{name}/{label}"] = evaluate_annotation(backend, notes, reference, limit, work / name / label)
    backend.grammar = grammar
    return result


def vllm_throughput(prompts_count: int, max_new_tokens: int) -> dict:
    """Notes/s per GPU of vLLM on a Llama-3.1-8B-shaped model with dummy weights (GPU machine only)."""
    import torch
    from transformers import AutoTokenizer

    from cts.annotation.backends.hf import resolve_model
    from cts.annotation.backends.vllm import VLLMBackend

    with tempfile.TemporaryDirectory() as folder:
        source, gguf = resolve_model("smollm2")
        AutoTokenizer.from_pretrained(source, gguf_file=gguf).save_pretrained(folder)  # ids < Llama's vocab
        (Path(folder) / "config.json").write_text(json.dumps(LLAMA_8B))
        backend = VLLMBackend(model=folder, load_format="dummy", max_model_len=16384, max_new_tokens=max_new_tokens,
                              temperature=0.0, batch_size=prompts_count, max_prompt_tokens=15000,
                              tensor_parallel_size=torch.cuda.device_count())
        prompts = timeline_prompts(backend, ROOT / "data/demo/notes.csv.gz", min(prompts_count, 500))
        prompts = (prompts * (prompts_count // len(prompts) + 1))[:prompts_count]
        backend.generate(prompts[:8])  # warm-up (CUDA graphs, allocator)
        result, _ = measure(backend, prompts, prompts_count)
    gpus = torch.cuda.device_count()
    return {**result, "gpus": gpus, "gpu": torch.cuda.get_device_name(0),
            "notes_per_s_per_gpu": round(result["prompts_per_s"] / gpus, 3), "authors_notes_per_s_per_a100": 0.2}


def token_costs(backend, notes_path: Path, candidates_path: Path, reference_path: Path, limit: int) -> dict:
    """Prompt and completion tokens per note, and the reference events within reach, for three ways to ask:

    - ``whole note``: the note cut into windows (``candidates=null``), one prompt per window;
    - ``ours``: each window of the note with the retrieved chunks it owns, one prompt per window holding chunks
      (EventsTask with candidates);
    - ``per chunk`` (the paper's scheme): one prompt per retrieved chunk, holding that chunk with its context.

    Prompt tokens are counted with the model's tokenizer on the rendered chat prompts. Completion tokens are those
    of an ideal reply: the ``event | hours`` lines of the reference events each prompt's text holds (a chunk scheme
    repeats an event once per chunk that holds it). Coverage: the share of reference events some prompt's text holds
    (terms matched as in ``stage=coverage``), over the same notes."""
    import numpy as np
    import pyarrow.parquet as pq
    from omegaconf import OmegaConf

    from cts.annotation.prompts import Prompt
    from cts.annotation.tasks import EventsTask
    from cts.data.event_table import read_event_table
    from cts.data.notes import read_notes
    from cts.data.timelines import format_line
    from cts.retrieval.chunking import terms
    from cts.retrieval.coverage import found_at_rank

    prompt = Prompt.from_config(OmegaConf.load(ROOT / "conf/annotate/prompt/timeline.yaml"))
    task = EventsTask(prompt, backend)
    table = read_event_table(reference_path, time_policy="zero")
    reference = {int(h): list(zip(g["event"].astype(str), g["time"])) for h, g in table.groupby("hadm_id",
                                                                                                 observed=True)}
    candidates = pq.read_table(candidates_path).to_pandas()
    chunks_of = {int(h): rows for h, rows in candidates.groupby("hadm_id")}
    schemes = ("whole note", "ours", "per chunk")
    totals = {s: {"prompts": 0, "prompt_tokens": 0, "completion_tokens": 0, "covered": 0} for s in schemes}
    notes = events = 0

    def line_tokens(event, hours):
        return len(backend.tokenizer(format_line(" ".join(event.replace("|", " ").split()), hours) + "\n",
                                     add_special_tokens=False)["input_ids"])

    for note in read_notes(notes_path):
        if note.hadm_id not in reference or note.hadm_id not in chunks_of:
            continue
        kept = [(e, h) for e, h in reference[note.hadm_id] if terms(e)]
        event_terms, costs = [terms(e) for e, _ in kept], np.array([line_tokens(e, h) for e, h in kept])
        chunks = chunks_of[note.hadm_id]
        in_note = np.isfinite(found_at_rank(event_terms, [terms(note.text)]))
        per_chunk = [np.isfinite(found_at_rank(event_terms, [terms(c)])) for c in chunks["context"]]
        in_chunks = np.logical_or.reduce(per_chunk) if per_chunk else np.zeros(len(kept), bool)
        asked = {"whole note": task.requests(note, None).messages, "ours": task.requests(note, chunks).messages,
                 "per chunk": [prompt.messages(c) for c in chunks["context"]]}
        completion = {"whole note": costs[in_note].sum(), "ours": costs[in_chunks].sum(),
                      "per chunk": sum(costs[hit].sum() for hit in per_chunk)}
        covered = {"whole note": in_note.sum(), "ours": in_chunks.sum(), "per chunk": in_chunks.sum()}
        for scheme in schemes:
            totals[scheme]["prompts"] += len(asked[scheme])
            totals[scheme]["prompt_tokens"] += sum(backend.count_prompt_tokens(m) for m in asked[scheme])
            totals[scheme]["completion_tokens"] += int(completion[scheme])
            totals[scheme]["covered"] += int(covered[scheme])
        notes, events = notes + 1, events + len(kept)
        if notes == limit:
            break
    rows = [{"scheme": s, "notes": notes, "prompts_per_note": round(t["prompts"] / notes, 2),
             "prompt_tokens_per_note": round(t["prompt_tokens"] / notes, 1),
             "completion_tokens_per_note": round(t["completion_tokens"] / notes, 1),
             "tokens_per_note": round((t["prompt_tokens"] + t["completion_tokens"]) / notes, 1),
             "coverage": round(t["covered"] / events, 4)} for s, t in totals.items()]
    return {"notes": str(notes_path), "candidates": str(candidates_path), "reference": str(reference_path),
            "max_prompt_tokens": backend.max_prompt_tokens,
            "reference_events": events, "completion_tokens": "ideal reply: the reference lines each prompt holds",
            "schemes": rows}


def vllm_serve_throughput(prompts: list[list[dict]], batch_size: int, max_new_tokens: int, work: Path) -> dict:
    """The same prompts through our ``openai`` backend against ``vllm serve`` (CPU build, its own venv, loopback,
    SmolLM2 de-quantized to float32), ``batch_size`` requests in flight, JSON-schema structured outputs."""
    from vllm_serve import export_smollm2, served

    from cts.annotation.backends.openai import OpenAIBackend

    with served(export_smollm2(), log=work / "vllm_serve.log") as url:
        client = OpenAIBackend(model="smollm2", base_url=url, concurrency=batch_size, max_new_tokens=max_new_tokens,
                               temperature=0.0, batch_size=batch_size, max_prompt_tokens=4096, timeout_s=600,
                               request_budget_s=1200)
        client.generate(prompts[:1])  # warm-up
        result, _ = measure(client, prompts, batch_size)
    return {**result, "structured": client.describe()["structured"]}


def throughput(backend, prompts: list[list[dict]], args) -> dict:
    """One at a time against batched (hf), and ``vllm serve`` beside batched with ``--vllm-serve``."""
    backend.generate(prompts[:1])  # warm-up
    single, single_texts = measure(backend, prompts, 1)
    batched, batched_texts = measure(backend, prompts, args.batch_size)
    speedup = {"prompts_per_s": round(batched["prompts_per_s"] / single["prompts_per_s"], 2),
               "generated_tokens_per_s": round(batched["generated_tokens_per_s"] / single["generated_tokens_per_s"], 2),
               "identical_outputs": sum(a == b for a, b in zip(single_texts, batched_texts))}
    result = {"one_at_a_time": single, "batched": batched, "speedup": speedup}
    print_table([{"way": "one at a time", **single}, {"way": f"batched ({args.batch_size})", **batched}],
                ["way", "prompts", "seconds", "prompts_per_s", "generated_tokens", "generated_tokens_per_s"])
    print(f"speedup: {speedup['prompts_per_s']}x prompts/s, {speedup['generated_tokens_per_s']}x tokens/s; "
          f"{speedup['identical_outputs']}/{len(prompts)} outputs identical")
    if args.vllm_serve:
        with tempfile.TemporaryDirectory(dir=args.out.parent) as work:
            result["vllm_serve"] = vllm_serve_throughput(prompts, args.batch_size, args.max_new_tokens, Path(work))
        print_table([{"way": f"hf batched ({args.batch_size})", **batched},
                     {"way": f"vllm serve ({args.batch_size} in flight)", **result["vllm_serve"]}],
                    ["way", "prompts", "seconds", "prompts_per_s", "generated_tokens", "generated_tokens_per_s"])
    return result


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(str(r.get(c))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c)).ljust(widths[c]) for c in columns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notes", type=Path, default=ROOT / "data/demo/notes.csv.gz")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--max-prompt-tokens", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 is fastest on a shared, loaded CPU; use the core count when idle)")
    parser.add_argument("--eval-limit", type=int, default=10, help="t2s2 notes to annotate and score")
    parser.add_argument("--eval-max-new-tokens", type=int, default=192)
    parser.add_argument("--eval-max-prompt-tokens", type=int, default=2048)
    parser.add_argument("--skip-eval", action="store_true")
    parser.add_argument("--candidates", type=Path, default=ROOT / "data/demo/candidates.parquet")
    parser.add_argument("--reference", type=Path, default=ROOT / "data/demo/clinical_event_timestamp.csv",
                        help="event table of the --notes admissions (token costs, coverage, demo F1)")
    parser.add_argument("--tokens-notes", type=int, default=50, help="notes for the tokens-per-note comparison")
    parser.add_argument("--skip-tokens", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--vllm", action="store_true", help="measure vLLM on a GPU instead")
    parser.add_argument("--vllm-prompts", type=int, default=256)
    parser.add_argument("--vllm-serve", action="store_true",
                        help="also time `vllm serve` (CPU, .venv-vllm; see bench/vllm_serve.py) beside hf batched")
    parser.add_argument("--out", type=Path, default=RESULTS / "annotate.json")
    args = parser.parse_args()
    machine = {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count(),
               "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    if args.vllm:
        result = {"machine": machine, "vllm": vllm_throughput(args.vllm_prompts, 1024)}
        print_table([result["vllm"]], ["gpu", "gpus", "prompts", "seconds", "notes_per_s_per_gpu",
                                       "generated_tokens_per_s"])
        write_result(args.out.with_name("annotate_vllm.json"), result)
        return

    import torch

    from cts.annotation.backends.hf import HFBackend

    backend = HFBackend(model="smollm2", max_new_tokens=args.max_new_tokens, temperature=0.0,
                        batch_size=args.batch_size, max_prompt_tokens=args.max_prompt_tokens, threads=args.threads)
    machine["torch_threads"] = torch.get_num_threads()
    prompts = timeline_prompts(backend, args.notes, args.prompts)
    result = {"machine": machine, "model": "SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized to float32)",
              "notes": str(args.notes), "max_new_tokens": args.max_new_tokens}
    if not args.skip_throughput:
        result.update(throughput(backend, prompts, args))
    if not args.skip_tokens:
        backend.max_prompt_tokens = args.eval_max_prompt_tokens
        result["tokens_per_note"] = token_costs(backend, args.notes, args.candidates, args.reference,
                                                args.tokens_notes)
        print_table(result["tokens_per_note"]["schemes"], ["scheme", "notes", "prompts_per_note",
                                                           "prompt_tokens_per_note", "completion_tokens_per_note",
                                                           "tokens_per_note", "coverage"])
    if not args.skip_eval:
        backend.batch_size, backend.max_new_tokens = args.batch_size, args.eval_max_new_tokens
        backend.max_prompt_tokens = args.eval_max_prompt_tokens
        with tempfile.TemporaryDirectory(dir=args.out.parent) as work:
            sets = {"demo": (args.notes, demo_reference(Path(work) / "demo_reference", args.reference, args.notes,
                                                        args.eval_limit))}
            if T2S2.exists():
                sets["t2s2_sepsis10"] = (T2S2 / "body", T2S2 / "l33_70b_annotations")
            result["structured"] = structured_comparison(backend, sets, args.eval_limit, Path(work))
        print_table([{"run": name, **run["per_note"], **{k: run["scores"][k] for k in (
            "notes_scored", "predicted", "reference", "matched", "precision", "recall", "f1")},
            "f1_ci95": run["scores"]["ci95"].get("f1")} for name, run in result["structured"].items()],
            ["run", "notes_scored", "rejects_per_note", "events_per_note", "hit_token_limit", "matched", "reference",
             "precision", "recall", "f1", "f1_ci95", "completion_tokens_per_note"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
