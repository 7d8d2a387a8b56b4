"""The rules annotator's vocabulary, learned from the train admissions of a reference event table.

Every event phrase of the train timelines is a candidate. Reading the train notes the way the annotator will (same
sections, same matching), a candidate is kept where writing it would have been right often enough: it is in the
note's own timeline in at least ``min_precision`` of the train notes whose text holds it, and in at least
``min_count`` of them. Pertinent negatives are learned alike: "no fever" in a timeline makes "fever" after a negation
cue a candidate ("No fever or chills" → "no fever", "no chills"). Three more proposals are measured the same way and
kept on the same terms: the patient's age ("a 54-year-old" → "54 years old"), sex, and events that timelines hold
whatever the text says ("admitted to the hospital"). Without notes, a phrase is kept when ``min_count`` train
timelines have it. Only train admissions contribute (val and test are never read), so held-out scores are honest.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import ahocorasick
import numpy as np
from rapidfuzz import fuzz, process

from cts.annotation.evaluate import normalize, opposites
from cts.annotation.narrative import story_text
from cts.annotation.time_rules import patient_age
from cts.data.event_table import read_event_table
from cts.data.notes import read_notes
from cts.data.splits import read_splits
from cts.hashing import file_hash, fingerprint
from cts.io import write_json

log = logging.getLogger(__name__)
VERSION = 2  # bump when learning changes, so cached vocabularies are rebuilt
MATCH_THRESHOLD = 80.0  # a proposal is right when stage=evaluate would match it (its default threshold)

_NEGATED_EVENT = re.compile(r"^(?:no|not|without|absence of|absent|negative for|denie[sd]|denying|free of)\s+(.+)$")
_NEGATION_CUE = re.compile(r"(?<!\w)(?:no|not|without|denie[sd]|denying|negative\s+for|absence\s+of|free\s+of|nor|"
                           r"never)(?!\w)", re.IGNORECASE)
_NEGATION_AFTER = re.compile(r"\s*(?:was|were|is|are|has\s+been|had\s+been)\s+(?:ruled\s+out|excluded|negative|absent|"
                             r"not\s+(?:seen|observed|found|detected|present|noted|identified|evident))(?!\w)",
                             re.IGNORECASE)
_SCOPE_BREAK = re.compile(r"[.;:!?\n]|(?<!\w)(?:but|however|although|though|except|apart\s+from|other\s+than|which|"
                          r"who|whereas|while|because|due\s+to|revealed|showed|shows|demonstrated)(?!\w)",
                          re.IGNORECASE)
NEGATION_REACH = 6  # words from a cue to the term it negates ("no evidence of free fluid or pneumoperitoneum")
_SEX_WORDS = re.compile(r"(?<!\w)(man|male|boy|gentleman|he|his|woman|female|girl|lady|she|her)(?!\w)", re.IGNORECASE)
_FEMALE = {"woman", "female", "girl", "lady", "she", "her"}


class VocabularyError(ValueError):
    """The rules annotator cannot learn its vocabulary; the message names the file and the ``llm.`` key."""


def fold(text: str) -> str:
    """Lower case with every non-word character a space, same length as ``text`` (offsets stay valid)."""
    lower = text.lower()
    if len(lower) != len(text):  # a character whose lower case is longer ("İ"): keep it as it is
        lower = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    return re.sub(r"\W", " ", lower)


def phrase_key(event: str) -> str:
    """The form phrases are compared in: folded, single spaces ("C-reactive protein" → "c reactive protein")."""
    return " ".join(fold(event).split())


def split_negation(key: str) -> tuple[str, bool]:
    """("fever", True) for "no fever" / "without fever" / "negative for fever"; (key, False) otherwise."""
    match = _NEGATED_EVENT.match(key)
    return (match[1], True) if match else (key, False)


def negated(text: str, start: int, end: int) -> bool:
    """Whether the term at ``[start, end)`` is negated: a cue at most ``NEGATION_REACH`` words before it in the same
    clause ("no fever, chills or rash"), or "was ruled out" / "was not seen" right after it."""
    window = text[max(0, start - 120):start]
    breaks = list(_SCOPE_BREAK.finditer(window))
    if breaks:
        window = window[breaks[-1].end():]
    cues = list(_NEGATION_CUE.finditer(window))
    if cues and len(window[cues[-1].end():].split()) <= NEGATION_REACH:
        return True
    return bool(_NEGATION_AFTER.match(text, end, min(len(text), end + 60)))


@dataclass(frozen=True)
class Found:
    """A phrase of the vocabulary found in a text: its span, its key, and whether it is negated there."""

    start: int
    end: int
    key: str
    negated: bool


class PhraseMatcher:
    """Aho-Corasick over phrase keys: case-insensitive, at word boundaries, in folded text."""

    def __init__(self, keys):
        self.automaton = ahocorasick.Automaton()
        for key in keys:
            self.automaton.add_word(key, key)
        self.empty = len(self.automaton) == 0
        if not self.empty:
            self.automaton.make_automaton()

    def occurrences(self, folded: str) -> list[tuple[int, int, str]]:
        """Every (start, end, key) of the folded text, overlapping ones included."""
        if self.empty:
            return []
        found = []
        for last, key in self.automaton.iter(folded):
            start, end = last - len(key) + 1, last + 1
            if (start == 0 or folded[start - 1] == " ") and (end == len(folded) or folded[end] == " "):
                found.append((start, end, key))
        return found


def longest_first(found: list[Found]) -> list[Found]:
    """Non-overlapping phrases, longer ones first ("chest pain" rather than "pain"), in text order."""
    taken: list[tuple[int, int]] = []
    kept = []
    for item in sorted(found, key=lambda f: (f.start - f.end, f.start)):
        if not any(item.start < end and start < item.end for start, end in taken):
            taken.append((item.start, item.end))
            kept.append(item)
    return sorted(kept, key=lambda f: f.start)


@dataclass
class Vocabulary:
    """What the rules annotator writes: phrases as found (``positive``), phrases after a negation cue written
    "no <phrase>" (``negated``), events every timeline gets with their hours (``constant``), and whether to write
    the patient's age and sex."""

    positive: set[str] = field(default_factory=set)
    negated: set[str] = field(default_factory=set)
    constant: dict[str, float] = field(default_factory=dict)
    age: bool = False
    sex: bool = False
    sections: tuple[str, ...] = ()
    stats: dict = field(default_factory=dict)

    def __post_init__(self):
        self.matcher = PhraseMatcher(self.positive | self.negated)

    def find(self, story: str) -> list[Found]:
        """The phrases to write from a story text (:func:`story_text`), longest first, each as the vocabulary keeps
        it (negated or not)."""
        found = []
        for start, end, key in self.matcher.occurrences(fold(story)):
            is_negated = negated(story, start, end)
            if key in (self.negated if is_negated else self.positive):
                found.append(Found(start, end, key, is_negated))
        return longest_first(found)

    def save(self, path: Path) -> None:
        data = {k: v for k, v in asdict(self).items() if k not in ("positive", "negated")}
        write_json(path, {**data, "positive": sorted(self.positive), "negated": sorted(self.negated),
                          "sections": list(self.sections)})

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        data = json.loads(Path(path).read_text())
        return cls(positive=set(data["positive"]), negated=set(data["negated"]), constant=data["constant"],
                   age=data["age"], sex=data["sex"], sections=tuple(data["sections"]), stats=data["stats"])


def patient_sex(text: str) -> str | None:
    """"male" or "female" from the first word that says it (man, woman, he, she...)."""
    match = _SEX_WORDS.search(text)
    return None if match is None else "female" if match[1].lower() in _FEMALE else "male"


def age_event(age: float) -> str:
    return f"{age:g} years old"


def train_timelines(events_path: Path, splits_path: Path) -> dict[int, list[tuple[str, float]]]:
    """(key, hours) of every event of every train admission of the event table."""
    for key, path in (("llm.events", events_path), ("llm.splits", splits_path)):
        if not path.exists():
            raise VocabularyError(f"{key}: no file at {path} (the rules annotator learns its phrases from the train "
                                  "admissions of an event table and its splits.parquet)")
    splits = read_splits(splits_path)
    train = set(splits.loc[splits["split"].astype(str) == "train", "hadm_id"].astype("int64").tolist())
    table = read_event_table(events_path)
    table = table[table["hadm_id"].isin(train)]
    if table.empty:
        raise VocabularyError(f"llm.splits: {splits_path} has no train admission with events in llm.events "
                              f"{events_path} ({len(train)} train admissions listed)")
    keys = [phrase_key(e) for e in table["event"].astype(str)]
    timelines: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for hadm_id, key, hours in zip(table["hadm_id"].tolist(), keys, table["time"].tolist()):
        if key:
            timelines[int(hadm_id)].append((key, float(hours)))
    return dict(timelines)


def candidates(timelines: dict[int, list[tuple[str, float]]], max_words: int) -> set[str]:
    """Phrase keys of the train events (negations split off) that text could hold: a letter, at most
    ``max_words`` words."""
    keys = {split_negation(key)[0] for events in timelines.values() for key, _ in events}
    return {k for k in keys if len(k) >= 3 and re.search(r"[^\W\d_]", k) and len(k.split()) <= max_words}


@dataclass
class Tally:
    """What every proposal scored on the train notes, before any threshold: ``seen`` (train notes that propose it),
    ``hits`` (of those, notes whose timeline has it), ``totals`` (train timelines holding each phrase) and each
    phrase's median hours. Proposals are ("phrase", key, negated), ("age",) and ("sex",)."""

    timelines: int
    notes_read: int
    candidates: set[str]
    seen: Counter
    hits: Counter
    totals: Counter
    median_hours: dict[str, float]
    sections: tuple[str, ...]


def tally(events: str | Path, splits: str | Path, notes: str | Path | None = None, max_words: int = 8,
          sections: tuple[str, ...] = ()) -> Tally:
    """Score every proposal on the train notes (none without ``notes``): the expensive part of learning."""
    timelines = train_timelines(Path(events), Path(splits))
    pool = candidates(timelines, max_words)
    hours: dict[str, list[float]] = defaultdict(list)
    for timeline in timelines.values():
        for key, time in timeline:
            hours[key].append(time)
    totals = Counter(split_negation(k) for timeline in timelines.values() for k in {k for k, _ in timeline})
    seen, hits, notes_read = Counter(), Counter(), 0
    if notes is not None:
        if not Path(notes).exists():
            raise VocabularyError(f"llm.notes: no file at {notes} (the train notes the rules' phrases are measured "
                                  "on; null learns from the event table alone)")
        matcher = PhraseMatcher(pool)
        for note in read_notes(notes):
            timeline = timelines.get(note.hadm_id)
            if timeline is None:
                continue  # not a train admission (or one without events): never read
            notes_read += 1
            proposed = sorted(_proposals(note.text, matcher, sections))
            seen.update(_rule(p) for p in proposed)
            hits.update(_rule(p) for p in confirmed(proposed, [k for k, _ in timeline]))
        if not notes_read:
            raise VocabularyError(f"llm.notes: {notes} holds no note of the {len(timelines)} train admissions of "
                                  f"llm.events {events}")
    return Tally(len(timelines), notes_read, pool, seen, hits, totals,
                 {key: float(np.median(values)) for key, values in hours.items()}, tuple(sections))


def select(scores: Tally, min_count: int = 3, min_precision: float = 0.3) -> Vocabulary:
    """The proposals right in at least ``min_count`` train notes and ``min_precision`` of those proposing them;
    an event right in ``min_precision`` of the notes that do not propose it is written for every note, at its median
    hours. Without notes read: the phrases of at least ``min_count`` train timelines."""
    if not scores.notes_read:
        keep = {(k, n) for (k, n), c in scores.totals.items() if c >= min_count and k in scores.candidates}
        return Vocabulary({k for k, n in keep if not n}, {k for k, n in keep if n}, sections=scores.sections,
                          stats={"train timelines": scores.timelines, "notes read": 0, "kept": len(keep)})
    kept = {p for p, n in scores.hits.items() if n >= min_count and n / scores.seen[p] >= min_precision}
    constant = {}
    covered = {"male", "female"} if ("sex",) in kept else set()  # the sex rule says which one
    for (key, is_negated), total in scores.totals.items():
        proposal = ("phrase", key, is_negated)
        unproposed_notes = scores.notes_read - scores.seen[proposal]
        right = total - scores.hits[proposal]
        if (not is_negated and key not in covered and right >= min_count and unproposed_notes
                and right / unproposed_notes >= min_precision):
            constant[key] = scores.median_hours[key]
    vocabulary = Vocabulary(
        positive={p[1] for p in kept if p[0] == "phrase" and not p[2]},
        negated={p[1] for p in kept if p[0] == "phrase" and p[2]},
        constant=constant, age=("age",) in kept, sex=("sex",) in kept, sections=scores.sections,
        stats={"train timelines": scores.timelines, "notes read": scores.notes_read,
               "candidates": len(scores.candidates),
               "age precision": _ratio(scores.hits[("age",)], scores.seen[("age",)]),
               "sex precision": _ratio(scores.hits[("sex",)], scores.seen[("sex",)])})
    vocabulary.stats.update(positive=len(vocabulary.positive), negated=len(vocabulary.negated),
                            constant=len(constant))
    return vocabulary


def learn(events: str | Path, splits: str | Path, notes: str | Path | None = None, min_count: int = 3,
          min_precision: float = 0.3, max_words: int = 8, sections: tuple[str, ...] = ()) -> Vocabulary:
    """The vocabulary from the train admissions of ``events`` (see the module docstring)."""
    return select(tally(events, splits, notes, max_words, sections), min_count, min_precision)


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _proposals(text: str, matcher: PhraseMatcher, sections) -> set[tuple[str, str, bool]]:
    """Everything the annotator could write for a note, as (rule, key, negated): ("phrase", key, negated) for every
    candidate occurrence, ("age", "54 years old", False) and ("sex", "male", False)."""
    story = story_text(text, sections)
    proposed: set[tuple] = set()
    for start, end, key in matcher.occurrences(fold(story)):
        if ("phrase", key, False) in proposed and ("phrase", key, True) in proposed:
            continue
        proposed.add(("phrase", key, negated(story, start, end)))
    age, sex = patient_age(story), patient_sex(story)
    if age is not None:
        proposed.add(("age", phrase_key(age_event(age)), False))
    if sex is not None:
        proposed.add(("sex", sex, False))
    return proposed


def confirmed(proposed: list[tuple[str, str, bool]], reference: list[str]) -> list[tuple[str, str, bool]]:
    """The proposals that the note's timeline confirms as ``stage=evaluate`` would: some reference event at least
    ``MATCH_THRESHOLD`` similar (token_sort_ratio) that is not its opposite ("no fever" never confirms "fever")."""
    if not proposed or not reference:
        return []
    written = [normalize(f"no {key}" if is_negated else key) for _, key, is_negated in proposed]
    truth = [normalize(r) for r in reference]
    scores = process.cdist(written, truth, scorer=fuzz.token_sort_ratio, dtype=np.float64, workers=1)
    close = scores >= MATCH_THRESHOLD
    rows = np.flatnonzero(close.any(axis=1))
    if not rows.size:
        return []
    allowed = close[rows] & ~opposites([written[i] for i in rows], truth)
    return [proposed[i] for i, ok in zip(rows, allowed.any(axis=1)) if ok]


def _rule(proposal: tuple[str, str, bool]) -> tuple:
    """What a proposal is tallied under: the phrase itself, or the age or sex rule as a whole."""
    return proposal if proposal[0] == "phrase" else (proposal[0],)


def load_vocabulary(events: str | Path, splits: str | Path, notes: str | Path | None, cache_dir: str | Path | None,
                    **settings) -> Vocabulary:
    """:func:`learn`, cached under ``cache_dir/rules/`` by a hash of the input files and the settings."""
    if cache_dir is None:
        return learn(events, splits, notes, **settings)
    paths = [Path(p) if p is not None else None for p in (events, splits, notes)]
    for key, path in zip(("llm.events", "llm.splits", "llm.notes"), paths):
        if path is not None and not path.exists():
            raise VocabularyError(f"{key}: no file at {path} (the rules annotator learns its phrases from the train "
                                  "admissions of an event table, its splits.parquet and their notes)")
    key = fingerprint(VERSION, *(file_hash(p) if p is not None else None for p in paths), sorted(settings.items()))
    path = Path(cache_dir) / "rules" / f"vocabulary-{key}.json"
    if path.exists():
        return Vocabulary.load(path)
    vocabulary = learn(events, splits, notes, **settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    vocabulary.save(path)
    log.info("rules vocabulary learned from %s train notes: %s (cached in %s)", vocabulary.stats.get("notes read"),
             {k: v for k, v in vocabulary.stats.items() if k != "notes read"}, path)
    return vocabulary
