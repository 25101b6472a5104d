"""The same greedy generation as `ebb bench`'s model rows, in Hugging Face transformers on the
CPU: loads a model from its Hugging Face cache snapshot folder, generates exactly TOKENS new
tokens for the prompt REQUESTS times (after one warm-up), and prints one JSON line with the
tokens per second.

usage: bench_transformers.py SNAPSHOT FAMILY(t5|llama|qwen2) PROMPT TOKENS REQUESTS THREADS
"""

import json
import sys
import time

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, PreTrainedTokenizerFast


def main() -> None:
    snapshot, family, prompt, tokens, requests, threads = sys.argv[1:7]
    tokens, requests = int(tokens), int(requests)
    torch.set_num_threads(int(threads))
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=f"{snapshot}/tokenizer.json")
    kind = AutoModelForSeq2SeqLM if family == "t5" else AutoModelForCausalLM
    model = kind.from_pretrained(snapshot, torch_dtype=torch.float32).eval()
    ids = tokenizer(prompt, return_tensors="pt")
    args = dict(max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
    with torch.no_grad():
        model.generate(**ids, **args)
        generated = 0
        started = time.perf_counter()
        for _ in range(requests):
            out = model.generate(**ids, **args)
            # A decoder's output starts with the prompt; T5's with the decoder start token.
            prefix = 1 if family == "t5" else ids["input_ids"].shape[1]
            generated += out.shape[1] - prefix
        elapsed = time.perf_counter() - started
    print(json.dumps({
        "tokens": generated,
        "tokens_per_s": generated / elapsed,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
