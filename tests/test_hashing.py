"""The hash written into outputs (a prompt's, in every annotation manifest) is the same wherever it is made."""

from cts.annotation.prompts import Prompt
from cts.hashing import record_hash


def test_record_hash_is_canonical_sha256():
    assert record_hash({"b": 2, "a": [1, "x"]}) == record_hash({"a": [1, "x"], "b": 2}) == "65989928e381"
    assert Prompt("p", "system", "user").hash == record_hash(
        {"name": "p", "system": "system", "user": "user", "user_whole_note": None, "user_passages": None, "rules": "",
         "chunk": "[{index}] {text}", "max_chunks": None})
