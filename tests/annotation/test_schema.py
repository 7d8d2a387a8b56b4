"""The output schema enforced at decoding: the line grammar with xgrammar on the tiny random Llama (whose free
output is gibberish), the JSON form read back as lines, and the errors naming ``llm.structured``."""

import json
import sys

import pytest

from cts.annotation.backends.hf import HFBackend
from cts.annotation.parsing import parse_output
from cts.annotation.schema import EVENTS_SCHEMA, GRAMMAR_EVENT_CHARS, LINE_GRAMMAR, json_to_lines
from cts.data.timelines import MAX_EVENT_CHARS, parse_line

SETTINGS = dict(temperature=0.0, batch_size=3, max_prompt_tokens=256)


def chats(count):
    return [[{"role": "system", "content": "You are a physician."},
             {"role": "user", "content": "Fever began two days ago. " * (k + 1)}] for k in range(count)]


@pytest.mark.parametrize("temperature", [0.0, 1.5])
def test_structured_decoding_yields_only_parseable_lines(tiny_llama, temperature):
    backend = HFBackend(model=str(tiny_llama), max_new_tokens=48, **{**SETTINGS, "temperature": temperature})
    generations = backend.generate(chats(6))
    assert backend.describe()["structured"]
    for generation in generations:
        finished = generation.finish_reason == "stop"
        lines = generation.text.split("\n")
        complete = lines if finished else lines[:-1]  # the last line may be cut at the token limit
        assert all(isinstance(parse_line(line), tuple) for line in complete if line) or generation.text == "none"
        result = parse_output(generation.text, truncated=not finished)
        assert len(result.rejects) <= (0 if finished else 1)


def test_free_decoding_of_the_random_model_is_mostly_rejected(tiny_llama):
    """The contrast the grammar removes: unconstrained, the random model writes no readable line."""
    backend = HFBackend(model=str(tiny_llama), max_new_tokens=48, structured=False, **SETTINGS)
    results = [parse_output(g.text, g.finish_reason == "length") for g in backend.generate(chats(3))]
    assert sum(len(r.events) for r in results) == 0 and backend.describe()["structured"] is False


def test_a_missing_grammar_engine_is_an_error_naming_the_setting(tiny_llama, monkeypatch):
    monkeypatch.setitem(sys.modules, "xgrammar", None)  # import xgrammar now raises ImportError
    with pytest.raises(ImportError, match="llm.structured=true needs the grammar engine xgrammar"):
        HFBackend(model=str(tiny_llama), max_new_tokens=8, **SETTINGS)
    HFBackend(model=str(tiny_llama), max_new_tokens=8, structured=False, **SETTINGS)  # free text needs no engine


def test_a_grammar_the_engine_refuses_is_an_error_naming_the_setting(tiny_llama, monkeypatch):
    monkeypatch.setattr("cts.annotation.backends.hf.LINE_GRAMMAR", "root ::= undefined_rule")
    with pytest.raises(ValueError, match="llm.structured=true: xgrammar could not compile"):
        HFBackend(model=str(tiny_llama), max_new_tokens=8, **SETTINGS)


def test_json_replies_read_back_as_lines():
    reply = {"events": [{"event": "fever", "hours": -48}, {"event": "a | b\nc", "hours": 2.5},
                        {"event": " ", "hours": 1}, {"event": "rash", "hours": "soon"}]}
    lines = json_to_lines(json.dumps(reply)).split("\n")
    assert lines[:2] == ["fever | -48", "a b c | 2.5"]
    result = parse_output("\n".join(lines))
    assert result.events == [("fever", -48.0), ("a b c", 2.5)] and len(result.rejects) == 2  # counted, not lost
    assert json_to_lines('{"events": []}') == "none" and parse_output("none").said_none
    assert json_to_lines("fever | 3") == "fever | 3"  # not JSON: free text, read by the line parser


@pytest.mark.parametrize("hours", ["true", "false", "NaN", "Infinity", "-Infinity", "1e999", '"48"', "null"])
def test_json_hours_that_are_not_finite_numbers_are_rejected_and_counted(hours):
    reply = f'{{"events": [{{"event": "fever", "hours": {hours}}}, {{"event": "rash", "hours": 0}}]}}'
    result = parse_output(json_to_lines(reply))
    assert result.events == [("rash", 0.0)] and len(result.rejects) == 1  # JSON true is not 1 hour


def test_a_json_reply_cut_at_the_token_limit_keeps_its_complete_items():
    cut = json_to_lines('{"events": [{"event": "fever", "hours": -48}, {"event": "rash", "ho')
    result = parse_output(cut, truncated=True)
    assert result.events == [("fever", -48.0)] and [r.reason for r in result.rejects] == ["cut off at the token limit"]


def test_both_forms_describe_the_same_fields():
    item = EVENTS_SCHEMA["properties"]["events"]["items"]
    assert item["required"] == ["event", "hours"] and item["properties"]["hours"]["type"] == "number"
    assert 'line ::= event " | " hours' in LINE_GRAMMAR
    assert GRAMMAR_EVENT_CHARS <= MAX_EVENT_CHARS  # every line the grammar admits stays readable by the parser
