"""What every task's DataModule shares: reading the task Parquet files with clear errors, tokenizing once per
dataset (cached on disk, keyed by tokenizer and data hash), length-grouped batches with dynamic padding."""

from __future__ import annotations

import functools
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from cts.data.splits import BY_ADMISSION_NOTE, SPLITS
from cts.data.task_dataset import run_build
from cts.hashing import file_hash, fingerprint
from cts.io import atomic_path
from cts.models.spec import ModelSpec
from cts.models.tokenizers import tokenizer_fingerprint

log = logging.getLogger(__name__)

# per-token fields padded to the batch's longest row, with their fill (None: the tokenizer's pad id); a float fill
# makes a float tensor
PADDED = {"input_ids": None, "attention_mask": 0, "labels": -100, "segment_ids": 0, "segment_hours": 0.0}


class MissingDataError(FileNotFoundError):
    """A task dataset that is not built yet; the message gives the command that builds it."""


def build_corpus_task(task: str, builder, corpus_dir: str | Path, output: str | Path, create, seed: int = 1234,
                      table: str = "events_normalized.parquet", ready: str | None = None) -> None:
    """A corpus's task data as ``preprocess.py stage=build task=TASK input=<corpus>/<table>`` writes it, after
    ``create(corpus_dir)`` makes the corpus when its file ``ready`` (default: the table) is missing. Builders that
    read notes (task=extract) read the corpus's own.

    Only into the corpus's own folder (``<corpus>/tasks/<task>``): any other ``output`` is a ``data.dir`` of the
    user's (perhaps mistyped), where the corpus's data would be trained on as if it were theirs."""
    corpus = Path(corpus_dir)
    own = corpus / "tasks" / task
    if Path(output).resolve() != own.resolve():
        raise MissingDataError(f"data.dir={output}: no {task} splits (train/val/test.parquet) there; only "
                               f"{own} is built on first use. Check data.dir, or build it with `python preprocess.py "
                               f"stage=build task={task} input=EVENTS output={output}`")
    log.info("%s: no task data yet; building the %s data from %s (deterministic, once)", output, task, corpus)
    events = corpus / table
    if not (corpus / (ready or table)).exists():
        create(corpus)
    keywords = getattr(builder, "keywords", {})
    if "seed" in keywords:
        builder = functools.partial(builder, seed=seed)
    if "notes" in keywords:
        builder = functools.partial(builder, notes=str(corpus / "notes.csv.gz"))
    run_build(task, builder, events, output, seed=seed)


def build_demo_task(task: str, builder, demo_dir: str | Path, output: str | Path, seed: int = 1234,
                    n_admissions: int = 500) -> None:
    """The demo's task data, exactly as ``preprocess.py stage=demo`` then ``stage=build task=TASK`` write it
    (deterministic: the same seed and size as those commands' defaults, whatever the training seed)."""
    from cts.data.demo import generate_demo

    build_corpus_task(task, builder, demo_dir, output, seed=seed,
                      create=lambda folder: generate_demo(folder, n_admissions=n_admissions, seed=seed))


def build_imported_task(task: str, builder, corpus, output: str | Path, seed: int = 1234,
                        table: str = "events_normalized.parquet") -> None:
    """An imported corpus's task data (``conf/corpus/<name>.yaml``: ``dir``, ``source``, ``reports``,
    ``timelines``), importing it first as ``preprocess.py corpus=NAME stage=import`` would when it is missing."""
    from cts.data.timeline_corpus import MARKER, import_timeline_corpus

    def create(folder: Path) -> None:
        import_timeline_corpus(corpus["source"], folder, reports=corpus["reports"], timelines=corpus["timelines"],
                               seed=seed)

    # the marker is written last: without it an import was cut short, so it is redone
    build_corpus_task(task, builder, corpus["dir"], output, seed=seed, table=table, ready=MARKER, create=create)


def split_limits(max_rows) -> int | dict[str, int | None] | None:
    """``max_rows`` as the DataModule keeps it: None (0 too) or one count for every split, or a dict of counts (None:
    the whole split) for the splits it names (``{train: 4000, val: 2000, test: null}``; a split not named is whole).
    """
    if isinstance(max_rows, Mapping):
        unknown = sorted(set(max_rows) - set(SPLITS))
        if unknown:
            raise ValueError(f"max_rows: unknown split(s) {unknown}; per-split counts take {list(SPLITS)}, "
                             f"e.g. {{train: 4000, test: null}}")
        return {split: _count(max_rows[split]) for split in max_rows}
    return _count(max_rows)


def _count(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or value < 0 \
            or value != int(value):
        raise ValueError(f"max_rows must be null, a number of rows or one per split {{train: N, val: N, test: N}}; "
                         f"got {value!r}")
    return int(value) or None


def _limits_key(limits) -> object:
    """The cache-key form of ``split_limits``' result (a number stays itself, so existing caches still match)."""
    return tuple(sorted(limits.items())) if isinstance(limits, dict) else limits


class TokenizedDataset(Dataset):
    """Columns of equal length; item ``i`` is a dict of the i-th value of each column."""

    def __init__(self, columns: dict[str, list]):
        self.columns = columns
        self.lengths = np.fromiter((len(ids) for ids in columns["input_ids"]), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, index: int) -> dict:
        return {name: values[index] for name, values in self.columns.items()}


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Batches of similar length (less padding): shuffled mega-batches sorted by length, then the batches shuffled.

    Without shuffling, batches follow length order (deterministic evaluation). Under torch.distributed each rank
    takes every world-th batch, padded to an equal count, so Lightning's DistributedSampler is not needed.

    The order is a function of (seed, epoch) alone, so a resumed run draws the epochs the uninterrupted run drew.
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, shuffle: bool, seed: int = 0, group_factor: int = 50):
        self.lengths, self.batch_size, self.shuffle = np.asarray(lengths), int(batch_size), shuffle
        self.seed, self.group_factor, self.epoch = int(seed), int(group_factor), 0
        self.sampler = self  # Lightning sets each epoch through ``batch_sampler.sampler.set_epoch``, never ours

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[np.ndarray]:
        n = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            return [order[i:i + self.batch_size] for i in range(0, n, self.batch_size)]
        rng = np.random.default_rng(self.seed + self.epoch)
        order = rng.permutation(n)
        group = self.batch_size * self.group_factor
        batches = []
        for start in range(0, n, group):
            chunk = order[start:start + group]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches.extend(chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size))
        return [batches[i] for i in rng.permutation(len(batches))]

    def __iter__(self):
        # a generator: the order is drawn at the first batch, after Lightning's set_epoch (a resumed run builds its
        # first iterator before that)
        batches = self._batches()
        world, rank = world_rank()
        if world > 1:
            per_rank = -(-len(batches) // world)
            batches = (batches * world)[: per_rank * world][rank::world]
        yield from (b.tolist() for b in batches)

    def __len__(self) -> int:
        n_batches = -(-len(self.lengths) // self.batch_size)
        return -(-n_batches // world_rank()[0])


def world_rank() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size(), torch.distributed.get_rank()
    return 1, 0


class PadCollator:
    """Pads the per-token fields (``PADDED``) to the longest row in the batch; other fields become tensors."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, rows: list[dict]) -> dict:
        width = max(len(r["input_ids"]) for r in rows)
        batch = {}
        for name in rows[0]:
            if name in PADDED:
                fill = self.pad_token_id if PADDED.get(name) is None else PADDED[name]
                dtype = torch.float32 if isinstance(fill, float) else torch.long
                out = torch.full((len(rows), width), fill, dtype=dtype)
                for i, row in enumerate(rows):
                    out[i, : len(row[name])] = torch.tensor(row[name], dtype=dtype)
                batch[name] = out
            else:
                batch[name] = torch.as_tensor(np.asarray([r[name] for r in rows]))
        if "attention_mask" not in batch:
            batch["attention_mask"] = (batch["input_ids"] != self.pad_token_id).long()
        return batch


class TaskDataModule(L.LightningDataModule):
    """Reads ``data_dir/{train,val,test}.parquet`` (written by ``preprocess.py stage=build``) and tokenizes them.

    Subclasses set ``task``, ``columns`` (and ``extra_tokens``) and implement ``train_texts`` (what a trained
    tokenizer learns from) and ``encode`` (rows → token columns).
    """

    task = ""
    columns: tuple[str, ...] = ()
    extra_tokens: tuple[str, ...] = ()

    def __init__(self, data_dir: str, spec: ModelSpec, batch_size: int = 32, eval_batch_size: int = 64,
                 max_rows: int | None = None, num_workers: int = 0, seed: int = 0, cache_dir: str = ".cache/cts",
                 sample_seed: int = 0, build: Callable[[], object] | None = None):
        super().__init__()
        self.build = build  # builds missing task data (the demo); None: a missing split is an error
        self.data_dir, self.spec = Path(data_dir), spec
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size)
        self.max_rows, self.num_workers, self.seed = split_limits(max_rows), int(num_workers), int(seed)
        self.sample_seed = int(sample_seed)  # val/test samples: fixed across a seed sweep
        self.cache_dir = Path(cache_dir)
        self.frames: dict[str, pd.DataFrame] = {}
        self.datasets: dict[str, TokenizedDataset] = {}
        self.tokenizer = None

    # -- reading -----------------------------------------------------------------------------------------------
    def _path(self, split: str) -> Path:
        path = self.data_dir / f"{split}.parquet"
        if not path.exists():
            raise MissingDataError(
                f"{path} not found: build the {self.task} dataset first with `python preprocess.py stage=build "
                f"task={self.task} input=EVENTS output={self.data_dir}` (the demo: `python preprocess.py stage=demo` "
                f"then `python preprocess.py stage=build task={self.task}`)")
        return path

    def read(self, split: str) -> pd.DataFrame:
        """One split, checked for the task's columns; at most ``max_rows`` rows (a sample in file order) if set:
        one number for every split, or per split (``{train: 4000, val: 2000, test: null}``; a split not named is
        read whole).

        Train is sampled with ``seed``; val and test with ``sample_seed``, so every seed of a sweep is scored on the
        same rows."""
        path = self._path(split)
        present = set(pq.read_schema(path).names)
        missing = [c for c in self.columns if c not in present]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing} for task {self.task} (has {sorted(present)}); "
                             f"was it built with `preprocess.py stage=build task={self.task}`?")
        frame = pd.read_parquet(path, columns=list(self.columns))
        limit = self.max_rows.get(split) if isinstance(self.max_rows, dict) else self.max_rows
        if limit and len(frame) > limit:
            frame = self.sample(frame, split, int(limit), self.seed if split == "train" else self.sample_seed)
        if frame.empty:
            raise ValueError(f"{path}: no rows in the {split} split")
        return frame.reset_index(drop=True)

    def sample(self, frame: pd.DataFrame, split: str, n: int, seed: int) -> pd.DataFrame:
        """``n`` rows of a split longer than its ``max_rows``: a seeded uniform sample, in file order."""
        return frame.sample(n=n, random_state=seed).sort_index()

    def prepare_data(self) -> None:
        """Build missing task data when the config says how (``data.build``: the demo's or t2s2's own folder; on
        local rank 0); else ``read`` fails naming the command that builds it."""
        missing = [s for s in SPLITS if not (self.data_dir / f"{s}.parquet").exists()]
        if missing and self.build is not None and int(os.environ.get("LOCAL_RANK", 0)) == 0:
            self.build()

    # -- tokenizing --------------------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Read every split, get the tokenizer (trained on train for presets) and tokenize, once (idempotent)."""
        if self.tokenizer is not None:
            return
        self.frames = {split: self.read(split) for split in SPLITS}
        self._note_split_unit()
        hashes = {split: self.source_hash(split) for split in SPLITS}
        self.tokenizer = self.spec.tokenizer(lambda: self.train_texts(self.frames["train"]),
                                             data_key=(self.task, hashes["train"], self.extra_tokens),
                                             extra_tokens=self.extra_tokens, word_tokens=self.word_tokens())
        key = (self.task, type(self).__name__, tokenizer_fingerprint(self.tokenizer), self.spec.max_length,
               _limits_key(self.max_rows), self.seed, self.sample_seed, self.encoding_params())
        for split in SPLITS:
            self.datasets[split] = TokenizedDataset(self._cached(split, fingerprint(*key, hashes[split])))
        log.info("%s: %s rows (train/val/test), tokenized with %s (%d tokens)", self.task,
                 "/".join(str(len(self.datasets[s])) for s in SPLITS), self.spec.name, len(self.tokenizer))

    def word_tokens(self) -> tuple[str, ...]:
        """Whole phrases of the train split that become one token each (none by default; read after ``frames``)."""
        return ()

    def _note_split_unit(self) -> None:
        """Say once when the data's splits are by admission, not by patient (``meta.json`` of the build)."""
        meta = self.data_dir / "meta.json"
        if meta.exists() and json.loads(meta.read_text()).get("split_by") == "admission":
            log.warning("%s: %s", self.data_dir, BY_ADMISSION_NOTE)

    def _cached(self, split: str, key: str) -> dict[str, list]:
        path = self.cache_dir / "tokenized" / self.task / key / f"{split}.parquet"
        if path.exists():
            table = pq.read_table(path)
        else:
            table = pa.table(self.encode(self.frames[split], split))
            with atomic_path(path) as temp:
                pq.write_table(table, temp)
        return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}

    def source_hash(self, split: str) -> str:
        """What a split's rows come from (part of the cache key): the split's Parquet file."""
        return file_hash(self._path(split))

    def encoding_params(self) -> tuple:
        """Task parameters that change the tokenized data (part of the cache key)."""
        return ()

    def train_texts(self, frame: pd.DataFrame):
        raise NotImplementedError

    def encode(self, frame: pd.DataFrame, split: str) -> dict[str, list]:
        raise NotImplementedError

    # -- Lightning ---------------------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        self.prepare()

    def module_kwargs(self) -> dict:
        """What the task's LightningModule needs from the data (at least the tokenizer)."""
        return {"tokenizer": self.tokenizer}

    def _loader(self, split: str, shuffle: bool, batch_size: int) -> DataLoader:
        dataset = self.datasets[split]
        sampler = LengthGroupedBatchSampler(dataset.lengths, batch_size, shuffle=shuffle, seed=self.seed)
        # each iterator draws its worker seed from this generator, not torch's global one (dropout's): a resumed run
        # builds its iterators at other moments, and must find the global generator where the saved run left it
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=PadCollator(self.tokenizer.pad_token_id),
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
                          generator=torch.Generator().manual_seed(self.seed))

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True, self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False, self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False, self.eval_batch_size)


def event_token_count(value) -> int:
    """``task.datamodule.event_tokens`` checked: a count ≥ 0 (0: events stay subword pieces)."""
    if value is None or int(value) < 0:
        raise ValueError(f"task.datamodule.event_tokens must be a count ≥ 0, got {value!r}")
    return int(value)


def frequent_strings(values: Iterable[str], n: int, at_least: int = 2) -> tuple[str, ...]:
    """The ``n`` most frequent of ``values`` seen at least ``at_least`` times (ties by text): the phrases a task's
    ``event_tokens`` makes whole tokens (one line each: a value holding a newline is left out)."""
    counts = Counter(map(str, values))
    kept = sorted((v for v, c in counts.items() if c >= at_least and "\n" not in v), key=lambda v: (-counts[v], v))
    return tuple(kept[:n])


class ProbedDataModule(TaskDataModule):
    """A DataModule that also hands its module held-out prediction probes (prompt ids, span length, truth)."""

    def __init__(self, *args, probe_size: int = 64, **kwargs):
        super().__init__(*args, **kwargs)
        self.probe_size = int(probe_size)

    def probes(self, split: str) -> list[dict]:
        raise NotImplementedError

    def module_kwargs(self) -> dict:
        return {**super().module_kwargs(), "probes": {split: self.probes(split) for split in ("val", "test")}}
