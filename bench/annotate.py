"""Annotation throughput: batched generation versus one prompt at a time (the authors' way), and SmolLM2's scores.

    python bench/annotate.py [--prompts 8] [--batch-size 8] [--max-new-tokens 128] [--threads 1] [--eval-limit 10]
                             [--eval-max-prompt-tokens 2048] [--skip-eval] [--out bench/results/annotate.json]
    python bench/annotate.py --vllm [--vllm-prompts 256]      # on a GPU with vLLM installed (see docs/annotation.md)

Part 1 loads SmolLM2-135M-Instruct once (hf backend) and generates the same timeline prompts (the first window of
the first ``--prompts`` notes) twice: one at a time, then batched with left padding. Greedy decoding both ways.
Part 2 runs the annotation runner with that model on ../shared/data/timelines/t2s2_sepsis10 and scores it against
the Llama-3.3-70B timelines (a 135M model is weak: the point is the machinery).
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

from bench_io import write_result

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("CTS_ROOT", str(ROOT))
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


def evaluate_smollm2(backend, limit: int, work: Path) -> dict:
    """Annotate t2s2_sepsis10 with the loaded model through the runner, then score against the reference."""
    from omegaconf import OmegaConf

    from cts.annotation.evaluate import evaluate
    from cts.annotation.runner import Runner
    from cts.annotation.tasks import EventsTask

    runner = Runner("events", work / "predictions", OmegaConf.create({}),
                    OmegaConf.load(ROOT / "conf/annotate/prompt/timeline.yaml"))
    runner.task = EventsTask(runner.prompt, backend)  # reuse the loaded model
    summary = runner.run(T2S2 / "body", None, 0, 1, limit)
    scores = evaluate(work / "predictions", T2S2 / "l33_70b_annotations")["overall"]
    scores["notes_scored"] = scores["notes"] - len(scores.pop("missing_predictions"))
    return {"run": {k: summary[k] for k in ("seconds", "notes_per_s", "tokens_per_s", "counts")}, "scores": scores}


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
    parser.add_argument("--vllm", action="store_true", help="measure vLLM on a GPU instead")
    parser.add_argument("--vllm-prompts", type=int, default=256)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/annotate.json")
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
    backend.generate(prompts[:1])  # warm-up
    single, single_texts = measure(backend, prompts, 1)
    batched, batched_texts = measure(backend, prompts, args.batch_size)
    speedup = {"prompts_per_s": round(batched["prompts_per_s"] / single["prompts_per_s"], 2),
               "generated_tokens_per_s": round(batched["generated_tokens_per_s"] / single["generated_tokens_per_s"], 2),
               "identical_outputs": sum(a == b for a, b in zip(single_texts, batched_texts))}
    result = {"machine": machine, "model": "SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized to float32)",
              "notes": str(args.notes), "max_new_tokens": args.max_new_tokens, "one_at_a_time": single,
              "batched": batched, "speedup": speedup}
    print_table([{"way": "one at a time", **single}, {"way": f"batched ({args.batch_size})", **batched}],
                ["way", "prompts", "seconds", "prompts_per_s", "generated_tokens", "generated_tokens_per_s"])
    print(f"speedup: {speedup['prompts_per_s']}x prompts/s, {speedup['generated_tokens_per_s']}x tokens/s; "
          f"{speedup['identical_outputs']}/{len(prompts)} outputs identical")
    if not args.skip_eval and T2S2.exists():
        backend.batch_size, backend.max_new_tokens = args.batch_size, args.eval_max_new_tokens
        backend.max_prompt_tokens = args.eval_max_prompt_tokens
        with tempfile.TemporaryDirectory(dir=args.out.parent) as work:
            result["t2s2_sepsis10"] = evaluate_smollm2(backend, args.eval_limit, Path(work))
        scores = result["t2s2_sepsis10"]["scores"]
        print_table([scores], ["notes_scored", "predicted", "reference", "matched", "precision", "recall", "f1",
                               "mae_hours", "median_ae_hours", "sign_agreement", "order_concordance"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
