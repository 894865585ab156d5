"""A small OpenAI-compatible completions server over a local Hugging Face model, for the tests.

The openai predictor's main test runs against llama.cpp's server
(``llama-cpp-python[server]``, see ``tests/gguf_export.py``); this one is for
what a real server cannot be asked to do: fail the first N requests with a
server error or a rate limit, to test the retries.
This server speaks the same protocol (``POST /v1/completions``, ``GET
/v1/models``) over HTTP on loopback, so the predictor under test goes through
the real ``openai`` client, sockets and retries.

    python -m tests.openai_server MODEL_DIR --port 0 [--fail-first N --fail-status 500]

prints ``listening on PORT`` once it answers. ``--fail-first N`` answers the
first N completion requests with ``--fail-status`` (a server error or a rate
limit), to test retries; ``GET /stats`` says how many completions it served.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--name", default="tiny")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--fail-status", type=int, default=500)
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model).eval()
    lock = threading.Lock()  # one generation at a time: the model is not thread-safe
    counts = {"completions": 0, "failed": 0}

    def complete(body: dict[str, Any]) -> dict[str, Any]:
        prompt = body["prompt"]
        max_tokens = int(body.get("max_tokens") or 16)
        stops = body.get("stop") or []
        stops = [stops] if isinstance(stops, str) else list(stops)
        temperature = float(body.get("temperature") or 0.0)
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        room = model.config.max_position_embeddings - ids.shape[1]
        with lock, torch.no_grad():
            torch.manual_seed(int(body.get("seed") or 0))
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max(1, min(max_tokens, room)),
                do_sample=temperature > 0,
                temperature=temperature if temperature > 0 else None,
                top_p=float(body.get("top_p") or 1.0) if temperature > 0 else None,
                top_k=None,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        new = out[0, ids.shape[1] :].tolist()
        finish = "length"
        if tokenizer.eos_token_id in new:
            new = new[: new.index(tokenizer.eos_token_id) + 1]
            finish = "stop"
        text = tokenizer.decode(new, skip_special_tokens=False)
        for stop in stops:
            if stop and stop in text:
                text, finish = text[: text.index(stop)], "stop"
        return {
            "id": f"cmpl-{counts['completions']}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": args.name,
            "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
            "usage": {
                "prompt_tokens": ids.shape[1],
                "completion_tokens": len(new),
                "total_tokens": ids.shape[1] + len(new),
            },
        }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:  # quiet
            pass

        def answer(self, status: int, data: dict[str, Any]) -> None:
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self.answer(200, {"object": "list", "data": [{"id": args.name, "object": "model"}]})
            elif self.path == "/stats":
                self.answer(200, counts)
            else:
                self.answer(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path.rstrip("/") != "/v1/completions":
                self.answer(404, {"error": {"message": "not found"}})
                return
            if body.get("model") != args.name:
                self.answer(404, {"error": {"message": f"model {body.get('model')!r} does not exist"}})
                return
            with lock:
                failing = counts["failed"] < args.fail_first
                if failing:
                    counts["failed"] += 1
            if failing:
                self.answer(args.fail_status, {"error": {"message": "injected failure"}})
                return
            result = complete(body)
            with lock:
                counts["completions"] += 1
            self.answer(200, result)

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
