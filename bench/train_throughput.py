"""Benchmark: relation training samples/s, our DataModule + module vs the authors' naive loop, same model and data.

    python bench/train_throughput.py [--data DIR] [--samples 512] [--batch-size 32] [--model bert|gpt|llama]
                                     [--preset tiny] [--warmup-steps 2] [--repeats 3]

Ours: ``RelationDataModule`` (tokenized once, cached; length-grouped batches, dynamic padding) feeding
``RelationModule`` through a Lightning ``Trainer``. Naive (the authors' way): a Dataset that tokenizes in
``__getitem__`` and pads every pair to max_length 128, a shuffled DataLoader with a fixed batch size, a Python
loop of forward / backward / AdamW step. Both train the same architecture (backbone + 9-bin time embedding +
256-unit head) from the same initial weights on the same rows for the same number of samples. Each side first runs
``--warmup-steps`` untimed steps (allocator, thread pools, first-batch caches), then ``--repeats`` timed runs,
alternating sides so a change in the shared machine's load hits both; the median run is reported with the range.
Prints a table and writes logs/bench/train_throughput.json (with the load average before and after).
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from bench_io import RESULTS, write_result

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]

import lightning as L  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from cts.models.spec import ModelSpec  # noqa: E402
from cts.offline import SMOLLM2_GGUF, offline_model  # noqa: E402
from cts.tasks.relation.datamodule import RelationDataModule  # noqa: E402
from cts.tasks.relation.module import RelationModule  # noqa: E402


class NaivePairs(Dataset):
    """The authors' dataset: tokenizes each pair when it is fetched, padded to max_length."""

    def __init__(self, frame, tokenizer, max_length: int = 128):
        self.frame, self.tokenizer, self.max_length = frame.reset_index(drop=True), tokenizer, max_length

    def __len__(self):
        return len(self.frame)

    def __getitem__(self, index):
        row = self.frame.iloc[index]
        encoded = self.tokenizer(row["event_a"], row["event_b"], padding="max_length", truncation=True,
                                 max_length=self.max_length, return_tensors="pt")
        return {"input_ids": encoded["input_ids"][0], "attention_mask": encoded["attention_mask"][0],
                "time_a": torch.tensor(float(row["time_a"])), "label": torch.tensor(int(row["label"]))}


def naive_loop(module: RelationModule, frame, batch_size: int, steps: int, seed: int = 0) -> float:
    loader = DataLoader(NaivePairs(frame, module.tokenizer), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.AdamW(module.parameters(), lr=5e-5)
    module.train()
    start = time.perf_counter()
    for step, batch in enumerate(loader):
        if step == steps:
            break
        loss = torch.nn.functional.cross_entropy(module(batch), batch["label"])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return time.perf_counter() - start


def ours(module: RelationModule, datamodule: RelationDataModule, steps: int) -> float:
    trainer = L.Trainer(accelerator="cpu", max_steps=steps, limit_val_batches=0, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        use_distributed_sampler=False, num_sanity_val_steps=0)
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "data" / "demo" / "tasks" / "relation"))
    parser.add_argument("--samples", type=int, default=512, help="training samples per side")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", default="bert", choices=["bert", "gpt", "llama"])
    parser.add_argument("--preset", default=None, help="tiny|small|base (random init); default: the offline model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup-steps", type=int, default=2, help="untimed steps per side before measuring")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side (median reported)")
    args = parser.parse_args()
    load_before = list(os.getloadavg())

    sources = {"bert": {"name_or_path": offline_model("bert"), "name": "all-MiniLM-L6-v2"},
               "gpt": {"preset": args.preset or "small"},
               "llama": {"name_or_path": offline_model("llama"), "gguf_file": SMOLLM2_GGUF,
                         "name": "SmolLM2-135M-Instruct"}}
    options = {"preset": args.preset} if args.preset else sources[args.model]
    spec = ModelSpec(args.model, max_length=128, cache_dir=ROOT / ".cache" / "cts", **options)
    datamodule = RelationDataModule(args.data, spec, batch_size=args.batch_size, seed=args.seed,
                                    cache_dir=ROOT / ".cache" / "cts")
    start = time.perf_counter()
    datamodule.prepare()
    prepare_s = time.perf_counter() - start
    steps = args.samples // args.batch_size
    torch.manual_seed(args.seed)
    module = RelationModule(spec, **datamodule.module_kwargs())
    baseline = copy.deepcopy(module)  # same initial weights for both sides
    naive_loop(baseline, datamodule.frames["train"], args.batch_size, args.warmup_steps, args.seed)
    ours(module, datamodule, args.warmup_steps)
    naive_runs, ours_runs = [], []
    for repeat in range(args.repeats):  # alternating: load changes on the shared box hit both sides
        naive_runs.append(naive_loop(baseline, datamodule.frames["train"], args.batch_size, steps, args.seed + repeat))
        ours_runs.append(ours(module, datamodule, steps))
    naive_s, ours_s = statistics.median(naive_runs), statistics.median(ours_runs)
    samples = steps * args.batch_size
    lengths = datamodule.datasets["train"].lengths
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
                   f"{torch.get_num_threads()} threads",
        "load_average_before": load_before, "load_average_after": list(os.getloadavg()),
        "model": spec.name, "data": args.data, "samples": samples, "batch_size": args.batch_size,
        "warmup_steps": args.warmup_steps, "repeats": args.repeats,
        "mean_tokens_per_pair": float(lengths.mean()), "naive_padded_length": 128,
        "naive_samples_per_s": samples / naive_s, "ours_samples_per_s": samples / ours_s,
        "naive_samples_per_s_range": [samples / max(naive_runs), samples / min(naive_runs)],
        "ours_samples_per_s_range": [samples / max(ours_runs), samples / min(ours_runs)],
        "ratio": naive_s / ours_s, "ours_one_time_prepare_s": prepare_s,
    }
    print(f"relation training throughput, {spec.name}, {samples} samples, "
          f"batch {args.batch_size} ({result['machine']})")
    print(f"{'':28}{'samples/s':>12}  (median of {args.repeats}; range)")
    for name, key in (("naive (authors’ loop)", "naive"), ("ours (DataModule+module)", "ours")):
        low, high = result[f"{key}_samples_per_s_range"]
        print(f"{name:28}{result[f'{key}_samples_per_s']:>12.1f}  ({low:.1f}–{high:.1f})")
    print(f"ratio {result['ratio']:.2f}x  (mean {result['mean_tokens_per_pair']:.1f} tokens/pair vs 128 padded; "
          f"one-time tokenize+cache {prepare_s:.1f} s)")
    out = write_result(RESULTS / "train_throughput.json", result)
    print(f"wrote {out}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
