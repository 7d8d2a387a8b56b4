"""Relative-time rules: the hours from admission at which each part of a case narrative is set.

Narratives date events with phrases, not numbers: "3 days prior to admission", "two weeks later", "on hospital day
4", "at the age of 30" in a 45-year-old. :class:`DatedText` reads a text sentence by sentence and resolves each phrase
against the state of the story: admission (0 h), the running clock (the time of the last dated sentence, which
"3 days later" and "the next day" move on, and which a sentence without a phrase keeps), the last operation
("postoperative day 2") and the patient's age. An event takes the time of the nearest phrase of its sentence, else
the clock. Units are the prompt's: 1 day = 24 h, 1 week = 168 h, 1 month = 720 h, 1 year = 8760 h.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from cts.data.timelines import UNIT_HOURS

HOURS_PER_DAY, HOURS_PER_YEAR = 24.0, 8760.0

# --- numbers and quantities ("3 days", "two-week", "a month", "several years") -----------------------------------
_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen").split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_VAGUE = {"a": 1, "an": 1, "one": 1, "a couple of": 2, "a few": 3, "several": 3}
NUMBER_WORDS = {**{w: i for i, w in enumerate(_ONES)}, **_TENS, **_VAGUE}
_ORDINAL_WORDS = {w: i for i, w in enumerate(
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
    "fifteenth sixteenth seventeenth eighteenth nineteenth twentieth".split())}

_WORD_NUMBER = (rf"(?:{'|'.join(_TENS)})(?:[\s-](?:{'|'.join(_ONES[1:10])}))?"
                rf"|a\s+couple\s+of|a\s+few|several|{'|'.join(sorted(_ONES, key=len, reverse=True))}|an?")
_UNITS = {u: h for u, h in UNIT_HOURS.items() if h >= 1 / 60}  # seconds never date an event
_UNIT = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
# digits may touch their unit ("3days", "3-day"); a number word needs a space or hyphen ("a day", never "ad")
QUANTITY = rf"(?:(?P<num>\d+(?:\.\d+)?)\s*-?\s*|(?P<word>{_WORD_NUMBER})[\s-]+)(?P<unit>{_UNIT})"
_COUNT = rf"(?P<n>\d+|{'|'.join(sorted(_ONES, key=len, reverse=True))})"
_ORDINAL = rf"(?P<ord>\d+(?:st|nd|rd|th)|{'|'.join(sorted(_ORDINAL_WORDS, key=len, reverse=True))})"

# --- what a phrase can count from --------------------------------------------------------------------------------
_THE = r"(?:(?:the|his|her|their|this|our|initial|index|current)\s+)*"
ADMISSION = (r"admission|presentation|arrival|hospitali[sz]ation|(?:hospital|emergency\s+department|ED|ER)\s+visit|"
             r"referral|(?:this|the\s+current|the\s+index)\s+(?:visit|episode)")
PROCEDURE = r"surgery|operation|procedure|transplant(?:ation)?|resection|intervention"
ANCHOR = rf"{_THE}(?:(?P<admission>{ADMISSION})|(?P<procedure>{PROCEDURE}))"


def number(text: str) -> float:
    """A count written in digits or words: ``3``, ``2.5``, ``three``, ``twenty-one``, ``a``, ``a few`` (3)."""
    text = re.sub(r"\s+", " ", text.strip().lower().replace("-", " "))
    if text[0].isdigit():
        return float(text)
    if text in NUMBER_WORDS:
        return float(NUMBER_WORDS[text])
    tens, _, ones = text.partition(" ")
    return float(_TENS[tens] + NUMBER_WORDS[ones])


def amount(match: re.Match) -> float:
    """Hours of the quantity a rule matched (``num``/``word`` and ``unit`` groups)."""
    count = number(match["num"] if match["num"] is not None else match["word"])
    return count * _UNITS[match["unit"].lower()]


def count(match: re.Match) -> int:
    """A day number written as a count (``day 3``, ``day three``) or an ordinal (``3rd``, ``third``)."""
    if _group(match, "n") is not None:
        return int(number(match["n"]))
    ordinal = match["ord"].lower()
    return int(ordinal[:-2]) if ordinal[0].isdigit() else _ORDINAL_WORDS[ordinal]


# --- the state of the story and the rules that read it -----------------------------------------------------------
@dataclass
class Story:
    """What a phrase may count from: the clock (hours of the last dated sentence), the last operation, the age."""

    clock: float = 0.0
    procedure: float | None = None
    age: float | None = None
    history_hours: float = -HOURS_PER_YEAR  # "history of X" without a date: chronic, before admission

    def origin(self, match: re.Match) -> float:
        """Where "before"/"after" counts from: admission, the last operation, or the clock (a bare "later")."""
        if _group(match, "admission"):
            return 0.0
        if _group(match, "procedure"):
            return self.procedure if self.procedure is not None else self.clock
        return self.clock

    def at_age(self, years: float) -> float | None:
        """Hours at the given age of the patient (None when the age is unknown or the years are in the future)."""
        if self.age is None or years > self.age:
            return None
        return (years - self.age) * HOURS_PER_YEAR

    def at_life_stage(self, stage: str) -> float:
        """Hours at birth, in childhood or adolescence (the chronic default when the age is unknown)."""
        dated = self.at_age(_LIFE_STAGE_AGE[stage.lower()])
        return dated if dated is not None else self.history_hours


def _group(match: re.Match, name: str) -> str | None:
    return match.groupdict().get(name)


_LIFE_STAGE_AGE = {"birth": 0, "infancy": 0, "infant": 0, "congenital": 0, "childhood": 5, "child": 5,
                   "adolescence": 15, "adolescent": 15, "teenager": 15, "teens": 15}
_DAYLIKE = {"day": 24, "morning": 24, "afternoon": 24, "evening": 24, "night": 24, "week": 168, "month": 720,
            "year": 8760}


@dataclass(frozen=True)
class Rule:
    """A kind of time phrase: its patterns, its hours given the story (None: cannot be dated), whether it moves the
    clock (a point of the story; asides such as "history of" or "for the past week" do not), whether it is a cue
    word rather than a stated time ("on admission", "history of": a stated time a little farther away wins), and
    whether it dates only what follows it ("history of X")."""

    name: str
    patterns: tuple[str, ...]
    hours: Callable[[re.Match, Story], float | None]
    moves_clock: bool = True
    cue: bool = False
    ahead_only: bool = False
    regexes: tuple[re.Pattern, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "regexes", tuple(re.compile(rf"(?<!\w)(?:{p})(?!\w)", re.IGNORECASE)
                                                  for p in self.patterns))

    def finditer(self, text: str):
        for regex in self.regexes:
            yield from regex.finditer(text)


# Applied in this order; a phrase claimed by an earlier rule is not read again ("3 days after admission" is a
# quantity after admission, never "after admission" alone).
RULES = (
    # "for the past 2 weeks": up to the story's present, admission while the story is still before it
    Rule("duration until now", (rf"(?:an?\s+)?{QUANTITY}\s+(?:history|duration)\s+of",
                                rf"(?:for|over|during|in)\s+(?:the\s+)?(?:past|last|previous|preceding|prior)\s+"
                                rf"{QUANTITY}",
                                rf"since\s+(?:the\s+(?:past|last)\s+)?{QUANTITY}"),
         lambda m, s: max(s.clock, 0.0) - amount(m), moves_clock=False),
    Rule("ago", (rf"{QUANTITY}\s+ago",), lambda m, s: -amount(m)),
    Rule("before", (rf"{QUANTITY}\s+(?:before|prior(?:\s+to)?|preceding|earlier|previously)(?:\s+{ANCHOR})?",),
         lambda m, s: s.origin(m) - amount(m)),
    Rule("after", (rf"{QUANTITY}\s+(?:after|following|later|afterwards?|post|into|from)(?:\s+{ANCHOR})?",
                   rf"(?:after|within|following|over\s+the\s+next|in\s+the\s+next)\s+(?:another\s+)?{QUANTITY}"
                   rf"(?:\s+(?:of|after|from|following)\s+{ANCHOR})?"),
         lambda m, s: s.origin(m) + amount(m)),
    # "at the 3-month follow-up": from admission (a stay is short next to months, and its end is rarely dated)
    Rule("follow-up", (rf"{QUANTITY}\s+follow-?\s?up", rf"follow-?\s?up\s+(?:at|after|of)\s+{QUANTITY}"),
         lambda m, s: amount(m)),
    Rule("postoperative day", (rf"(?:post-?\s?operative|post-?op|POD)\s*(?:day\s*)?#?\s*{_COUNT}",
                               rf"{_ORDINAL}\s+post-?\s?operative\s+day"),
         lambda m, s: (s.procedure if s.procedure is not None else s.clock) + count(m) * HOURS_PER_DAY),
    Rule("hospital day", (rf"(?:hospital|admission|inpatient|ICU|HD)\s+day\s*#?\s*{_COUNT}",
                          rf"day\s*#?\s*{_COUNT}\s+of\s+{_THE}(?:admission|hospitali[sz]ation|(?:hospital\s+)?stay)",
                          rf"{_ORDINAL}\s+(?:hospital|admission)\s+day", rf"on\s+day\s+{_COUNT}"),
         lambda m, s: max(count(m) - 1, 0) * HOURS_PER_DAY),
    Rule("day before", (rf"the\s+(?:day|night|evening)\s+(?:before|prior\s+to)\s+{ANCHOR}",),
         lambda m, s: s.origin(m) - HOURS_PER_DAY),
    Rule("next", (r"(?:the\s+)?(?:next|following|subsequent)\s+(?:few\s+)?(?P<unit>day|morning|afternoon|evening|"
                  r"night|week|month|year)s?", r"the\s+day\s+after|overnight|tomorrow"),
         lambda m, s: s.clock + _DAYLIKE[(_group(m, "unit") or "day").lower()]),
    Rule("previous", (r"(?:the\s+)?(?:previous|preceding|prior)\s+(?P<unit>day|morning|evening|night|week|month|"
                      r"year)", r"the\s+day\s+before|yesterday"),
         lambda m, s: s.clock - _DAYLIKE[(_group(m, "unit") or "day").lower()]),
    Rule("same time", (r"(?:on\s+)?the\s+same\s+day|(?:later\s+)?that\s+(?:day|night|evening|morning|afternoon)|"
                       r"at\s+that\s+time|meanwhile|simultaneously|concurrently",),
         lambda m, s: s.clock, cue=True),
    Rule("at age", (r"at\s+(?:the\s+)?age\s+(?:of\s+)?(?P<years>\d{1,3})",
                    r"at\s+(?P<years>\d{1,3})\s+years?\s+of\s+age",
                    r"when\s+(?:she|he)\s+was\s+(?P<years>\d{1,3})"),
         lambda m, s: s.at_age(float(m["years"]))),
    Rule("life stage", (r"(?:since|in|during|from)\s+(?:early\s+|her\s+|his\s+)?(?P<stage>childhood|infancy|"
                        r"adolescence|birth|teens)", r"as\s+an?\s+(?P<stage>child|infant|teenager|adolescent)",
                        r"at\s+(?P<stage>birth)"),
         lambda m, s: s.at_life_stage(m["stage"]), moves_clock=False, cue=True),
    Rule("admission", (r"(?:on|at|upon|during|after)\s+(?:the\s+(?:time\s+of\s+)?)?(?:admission|presentation|arrival)",
                       r"(?:on\s+)?the\s+(?:morning|day|evening|night|afternoon)\s+of\s+(?:admission|presentation)",
                       r"(?:was|were)\s+(?:admitted|hospitali[sz]ed|referred|transferred)",
                       r"(?:presented|presents|presenting|came|arrived|was\s+brought|visited)\s+(?:to|at|with|in)",
                       r"in\s+the\s+(?:emergency\s+(?:department|room)|ED|ER)",
                       r"on\s+(?:initial\s+|physical\s+|clinical\s+)*examination",
                       r"(?:initial|admission)\s+(?:laboratory|labs?|physical|examination|work-?up|evaluation)"),
         lambda m, s: 0.0, cue=True),
    Rule("history", (r"(?:past\s+(?:medical\s+)?)?history\s+of|known(?:\s+case\s+of)?|long-?standing|"
                     r"previously\s+(?:diagnosed|treated)|chronic",),
         lambda m, s: s.history_hours, moves_clock=False, cue=True, ahead_only=True),
)
# an operation dates "postoperative day N" and "N days after surgery" from this sentence's time
_OPERATION = re.compile(r"(?<!\w)(?:underwent|operated|surgery|operation|resection|\w+ectomy|laparotomy|"
                        r"thoracotomy|craniotomy|transplant(?:ation)?)(?!\w)", re.IGNORECASE)
_PATIENT_AGE = re.compile(r"(?<!\w)(\d{1,3})(?:[\s-]*(?:year|yr)s?[\s-]*old|\s*(?:yo|y/o|y\.o\.)(?!\w))|"
                          r"(?<!\w)aged\s+(\d{1,3})(?!\w)", re.IGNORECASE)


def patient_age(text: str) -> float | None:
    """The patient's age in years from the first "45-year-old" / "45 yo" / "aged 45" of the text."""
    found = _PATIENT_AGE.search(text)
    return float(found[1] or found[2]) if found else None


CUE_WORDS = 2  # how much nearer a stated time must be to win over a cue ("presented with X since two days")
BREAK_WORDS = 3  # a clause break between an event and a phrase counts as this many words
_CLAUSE_BREAK = re.compile(r"[,;:)]")


# --- sentences ---------------------------------------------------------------------------------------------------
_ABBREVIATIONS = {"dr", "mr", "mrs", "ms", "vs", "fig", "figs", "e.g", "i.e", "approx", "no", "st", "ca", "et al", "al"}
_BREAK = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n\s*")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text``: ends at ``.``/``!``/``?`` (not after an abbreviation such as
    "Dr." or "Fig.") and at every line break (headings and list items stand alone)."""
    spans, start = [], 0
    for match in _BREAK.finditer(text):
        before = text[start:match.start()].rstrip(".!?\"')]")
        last_word = before.rsplit(None, 1)[-1].lower().lstrip("([{\"'") if before.split() else ""
        if "\n" not in match[0] and (last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha())):
            continue
        if text[start:match.start()].strip():
            spans.append((start, match.start()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


@dataclass(frozen=True)
class Mention:
    """A dated phrase: its span in the text, its hours and the rule that read it."""

    start: int
    end: int
    hours: float
    rule: str
    moves_clock: bool = True
    cue: bool = False
    ahead_only: bool = False


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    before: float  # the clock when the sentence begins (what an undated event of it takes)
    mentions: tuple[Mention, ...]


def read_mentions(sentence: str, offset: int, story: Story) -> list[Mention]:
    """The dated phrases of one sentence, in text order, each resolved against (and moving) the story's clock."""
    found: list[tuple[int, int, Rule, re.Match]] = []
    for rule in RULES:
        for match in rule.finditer(sentence):
            if not any(match.start() < end and start < match.end() for start, end, _, _ in found):
                found.append((match.start(), match.end(), rule, match))
    mentions = []
    for start, end, rule, match in sorted(found, key=lambda f: f[0]):
        hours = rule.hours(match, story)
        if hours is None:
            continue
        if rule.moves_clock:
            story.clock = hours
        mentions.append(Mention(offset + start, offset + end, hours, rule.name, rule.moves_clock, rule.cue,
                                rule.ahead_only))
    return mentions


class DatedText:
    """A narrative cut into sentences, each with its dated phrases; :meth:`hours_at` dates any span of it."""

    def __init__(self, text: str, history_hours: float = -HOURS_PER_YEAR, step_hours: float = 0.0):
        """``step_hours``: a sentence that moves no clock is that much later than the one before (stories are told
        in order, so ties become the narrative's order; 0 keeps such a sentence at the clock)."""
        story = Story(age=patient_age(text), history_hours=history_hours)
        self.sentences: list[Sentence] = []
        for start, end in split_sentences(text):
            before = story.clock
            mentions = read_mentions(text[start:end], start, story)
            if step_hours and not any(m.moves_clock for m in mentions):
                before = story.clock = story.clock + step_hours
            if _OPERATION.search(text, start, end):
                story.procedure = mentions[-1].hours if mentions else story.clock
            self.sentences.append(Sentence(start, end, before, tuple(mentions)))
        self._starts = [s.start for s in self.sentences]
        self.text = text

    def hours_at(self, start: int, end: int) -> float:
        """Hours of the span ``[start, end)`` (see :meth:`dated_at`)."""
        return self.dated_at(start, end)[0]

    def dated_at(self, start: int, end: int) -> tuple[float, bool]:
        """(hours, whether a stated time gave them) of the span ``[start, end)``: its sentence's nearest phrase,
        else the clock as the sentence began. Nearness is counted in words, a clause break (``, ; : )``) counts
        ``BREAK_WORDS`` and a cue ``CUE_WORDS`` more, and a phrase that dates only what follows it must come first:
        "history of diabetes presented with chest pain 3 days ago" dates diabetes as history and chest pain 3 days
        ago; "gout (diagnosed 15 years ago), asthma (diagnosed 3 years ago)" dates each by its own parenthesis."""
        index = bisect.bisect_right(self._starts, start) - 1
        if index < 0:
            return 0.0, False
        sentence = self.sentences[index]
        best, best_distance = (sentence.before, False), None
        for mention in sentence.mentions:
            if mention.end <= start:
                between = self.text[mention.end:start]
            elif mention.ahead_only:
                continue
            else:
                between = self.text[end:mention.start]
            distance = (len(re.findall(r"\w+", between)) + BREAK_WORDS * len(_CLAUSE_BREAK.findall(between))
                        + (CUE_WORDS if mention.cue else 0))
            if best_distance is None or distance < best_distance:
                best, best_distance = (mention.hours, not mention.cue), distance
        return best
