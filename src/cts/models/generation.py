"""Predict a text span after a prompt with any LM backbone: beam search for causal LMs, mask filling for BERT.

A masked LM cannot choose a length, so it fills a slot of the true span's length (an oracle length, documented);
its k best fillings come from a beam over the per-position distributions. ``span_log_likelihood`` scores a given
span the same way (teacher-forced for causal LMs, all span positions masked at once for BERT).
"""

from __future__ import annotations

import inspect

import torch
from transformers import PreTrainedTokenizerFast


def _clean(tokenizer: PreTrainedTokenizerFast, ids: list[int]) -> str:
    """Decoded text up to the first newline, without pad/eos/cls/sep but keeping task tokens like [TIME]."""
    drop = {tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id,
            tokenizer.bos_token_id}
    text = tokenizer.decode([i for i in ids if i not in drop], skip_special_tokens=False)
    return text.strip().split("\n")[0].strip()


@torch.no_grad()
def predict_spans(model, tokenizer: PreTrainedTokenizerFast, kind: str, prompts: list[list[int]],
                  span_lengths: list[int], k: int = 1, max_new_tokens: int = 32) -> list[list[str]]:
    """For each prompt (token ids, specials included), the ``k`` most likely continuations as text, best first."""
    if kind == "causal_lm":
        return _generate(model, tokenizer, prompts, k, max_new_tokens)
    if kind == "masked_lm":
        return [_fill(model, tokenizer, prompt, length, k) for prompt, length in zip(prompts, span_lengths)]
    raise ValueError(f"span prediction needs a causal_lm or masked_lm, got {kind!r}")


def _left_padded(tokenizer, sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Left padding, so every sequence ends at the same column (continuations start together)."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, sequence in enumerate(sequences):
        ids[row, width - len(sequence):] = torch.tensor(sequence, dtype=torch.long)
        mask[row, width - len(sequence):] = 1
    return ids, mask


def _generate(model, tokenizer, prompts, k, max_new_tokens):
    device = next(model.parameters()).device
    ids, mask = _left_padded(tokenizer, prompts)
    width = ids.shape[1]
    out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                         num_beams=k, num_return_sequences=k, do_sample=False, early_stopping=k > 1,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    texts = [_clean(tokenizer, row[width:].tolist()) for row in out]
    return [texts[i * k:(i + 1) * k] for i in range(len(prompts))]


def _fill(model, tokenizer, prompt, length, k):
    device = next(model.parameters()).device
    ids = prompt + [tokenizer.mask_token_id] * length + [tokenizer.sep_token_id]
    logits = model(input_ids=torch.tensor([ids], device=device)).logits[0, len(prompt):len(prompt) + length]
    scores, tokens = logits.log_softmax(-1).topk(k, dim=-1)
    beams = [([], 0.0)]
    for position in range(length):
        beams = sorted(((seq + [int(t)], total + float(s)) for seq, total in beams
                        for s, t in zip(scores[position], tokens[position])), key=lambda b: -b[1])[:k]
    return [_clean(tokenizer, seq) for seq, _ in beams]


@torch.no_grad()
def span_log_likelihood(model, tokenizer: PreTrainedTokenizerFast, kind: str, prompts: list[list[int]],
                        spans: list[list[int]]) -> list[float]:
    """Natural-log likelihood of each span's tokens after its prompt, summed over the span."""
    device = next(model.parameters()).device
    if kind == "causal_lm":
        ids, mask = _left_padded(tokenizer, [p + s for p, s in zip(prompts, spans)])
        positions = torch.arange(ids.shape[1] - 1)  # position j predicts token j + 1
        # explicit positions: left padding must not shift the learned/rotary positions of the real tokens
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                       position_ids=position_ids.to(device)).logits.float()
        scores = logits[:, :-1].log_softmax(-1).gather(-1, ids[:, 1:, None].to(device))[..., 0].cpu()
        lengths = torch.tensor([len(s) for s in spans])
        in_span = positions[None, :] >= ids.shape[1] - 1 - lengths[:, None]
        return (scores * in_span).sum(-1).tolist()
    if kind == "masked_lm":
        out = []
        for prompt, span in zip(prompts, spans):
            ids = prompt + [tokenizer.mask_token_id] * len(span) + [tokenizer.sep_token_id]
            logits = model(input_ids=torch.tensor([ids], device=device)).logits[0, len(prompt):len(prompt) + len(span)]
            out.append(float(logits.float().log_softmax(-1)
                             .gather(-1, torch.tensor(span, device=device)[:, None]).sum()))
        return out
    raise ValueError(f"span scoring needs a causal_lm or masked_lm, got {kind!r}")


@torch.no_grad()
def rank_continuations(model, prompt: list[int], stop: int, candidates: list[list[int]], ends: list[int],
                       max_head_tokens: int = 16, chunk: int = 256) -> tuple[list[int], torch.Tensor]:
    """A causal LM's greedy head after ``prompt`` up to and including the token ``stop`` (forced after
    ``max_head_tokens``), then the natural-log probability of every candidate continuation after prompt + head: its
    tokens, then any of the ``ends`` tokens (the candidate is whole: a newline or end-of-text follows). The prompt is
    encoded once; up to ``chunk`` candidates at a time are laid side by side in one sequence after its cache, each
    attending to the prompt and its own earlier tokens (a 4D mask, positions restarting after the head), so no token
    is padded or copied. Returns (head ids, one score per candidate)."""
    device = next(model.parameters()).device
    # transformers 5 names the cache argument ``cache`` (``past_key_values`` before, deprecated)
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    out = model(input_ids=torch.tensor([prompt], device=device), use_cache=True)
    cache, logits, head = getattr(out, name), out.logits[0, -1].float(), []
    while True:
        token = int(logits.argmax()) if len(head) < max_head_tokens else stop
        head.append(token)
        out = model(input_ids=torch.tensor([[token]], device=device), **{name: cache}, use_cache=True)
        cache, logits = getattr(out, name), out.logits[0, -1].float()
        if token == stop:
            break
    first = logits.log_softmax(-1).cpu()
    length = len(prompt) + len(head)
    scores = torch.empty(len(candidates))
    for start in range(0, len(candidates), chunk):
        group = candidates[start:start + chunk]
        sizes = torch.tensor([len(c) for c in group])
        offsets = torch.cumsum(sizes, 0) - sizes
        owner = torch.repeat_interleave(torch.arange(len(group)), sizes)  # candidate of each flat token
        within = torch.arange(int(sizes.sum())) - offsets[owner]  # its index inside the candidate
        flat = torch.tensor([t for c in group for t in c])
        n = len(flat)
        mask = torch.ones((n, length + n), dtype=torch.bool)
        mask[:, length:] = (owner[:, None] == owner[None, :]) & (within[None, :] <= within[:, None])
        logp = model(input_ids=flat[None].to(device), attention_mask=mask[None, None].to(device),
                     position_ids=(length + within)[None].to(device), **{name: cache},
                     use_cache=True).logits[0].float().log_softmax(-1).cpu()
        cache.crop(-n)  # drop the candidates again: the next chunk sees prompt + head only
        # token 0 is scored from the head's last position, token j from flat position j - 1 of its candidate
        nxt = torch.where(within > 0, logp[torch.arange(n) - 1, flat], first[flat])
        total = torch.zeros(len(group)).index_add_(0, owner, nxt)
        last = offsets + sizes - 1
        scores[start:start + len(group)] = total + torch.logsumexp(logp[last][:, ends], -1)
    return head, scores
