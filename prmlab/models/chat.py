"""Chat conversations through any `Generator`: messages in, decoded text out.

`ChatCompleter(generator, tokenizer, ...)` is the `Complete` callable of
`prmlab.supervision.chain_synth`: it renders each conversation with the tokenizer's chat
template when it has one (generation prompt on; the rendered text is tokenized without adding
special tokens again, as the ProcessBench critic does), otherwise as the messages' contents
joined by blank lines with the tokenizer's default special tokens; samples from the generator
until an end-of-turn id or the token limit; and decodes without special tokens. The generator
may be the in-process KV-cache engine over a Hugging Face causal LM (`KVCacheGenerator`, which
runs any HF causal LM: the engine falls back to the model's own forward and cache when the
fast path does not suit it) or any other implementation of the protocol (an OpenAI-compatible
server client), unchanged.
"""

from __future__ import annotations

from typing import Sequence

from prmlab import seeds
from prmlab.models.generator import Generator


def render(tokenizer, messages: Sequence[dict[str, str]]) -> list[int]:
    """Token ids of a conversation, ready for the assistant's next turn."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    return list(tokenizer("\n\n".join(m["content"] for m in messages) + "\n\n")["input_ids"])


def end_ids(tokenizer, model=None) -> list[int]:
    """End-of-turn ids: the tokenizer's eos plus the model's generation_config eos ids."""
    ids: set[int] = set()
    for v in (getattr(tokenizer, "eos_token_id", None),
              getattr(getattr(model, "generation_config", None), "eos_token_id", None)):
        if isinstance(v, int):
            ids.add(v)
        elif isinstance(v, (list, tuple)):
            ids.update(int(x) for x in v if x is not None)
    return sorted(ids)


class ChatCompleter:
    """A `Complete` callable over a generator and its tokenizer (see the module docstring).

    Call `completer(conversations, chunk)`: the seed of chunk c is stream `synth.chains` at the
    config seed and index c, so the same chunk always gets the same draws."""

    def __init__(self, generator: Generator, tokenizer, *, max_new_tokens: int,
                 temperature: float = 0.0, seed: int = 0, stop_ids: Sequence[int] = (),
                 progress=None):
        self.generator, self.tokenizer = generator, tokenizer
        self.max_new_tokens, self.temperature, self.seed = max_new_tokens, temperature, seed
        self.stop_ids = list(stop_ids) or end_ids(tokenizer)
        self.progress = progress

    def __call__(self, conversations, chunk: int):
        from prmlab.supervision.chain_synth import Completion

        prompts = [render(self.tokenizer, m) for m in conversations]
        samples = self.generator.generate(prompts, max_new_tokens=self.max_new_tokens,
                                          temperature=self.temperature, stop_ids=self.stop_ids,
                                          seed=seeds.seed("synth.chains", self.seed, index=chunk),
                                          progress=self.progress)
        stops = set(self.stop_ids)
        out = []
        for p, s in zip(prompts, samples):
            finished = bool(s.ids) and s.ids[-1] in stops
            out.append(Completion(self.tokenizer.decode(s.ids, skip_special_tokens=True),
                                  truncated=not finished and len(s.ids) >= self.max_new_tokens,
                                  prompt_tokens=len(p), generated_tokens=len(s.ids)))
        return out


__all__ = ["ChatCompleter", "end_ids", "render"]
