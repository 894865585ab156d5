"""Predictors (copy, oracle, hf, openai), the Table 9 metrics, and `cwm predict`.

The model predictors run for real: a tiny model trained here with `cwm train`
(to overfitting: it writes the test programs' traces back), and an
OpenAI-compatible server over it on loopback (tests/openai_server.py, which
says why it is not llama.cpp's).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.compare import compare_free
from benchmarks.metrics import first_divergence, macro, trace_metrics
from benchmarks.predictors import DEFAULT_LOOKUP_TOKENS, CopyPredictor, Prediction, PredictorError, Task
from tests import train_support
from tracer import parse_cwm, record, render_cwm
from tracer.cwm_render import shown_locals

ROOT = Path(__file__).resolve().parents[1]
LOOP = textwrap.dedent(
    """\
    def f(n):
        total = 0
        for i in range(n):
            total += i
        return total
    """
)


def cwm(
    *args: str, timeout: float = 600, stdout: Any = subprocess.PIPE, **env_vars: str
) -> subprocess.CompletedProcess[str]:
    """``cwm ARGS`` run here; its output captured (``stdout``: somewhere else for stdout)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **env_vars}
    return subprocess.run(
        [sys.executable, "-m", "cwm", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


def one_line_error(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if "error" in line]
    assert lines, done.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def prediction_of(trace: Any, frames_text: str) -> Prediction:
    return Prediction.from_text(Task.of(trace), frames_text)


# -- the metrics on hand-made pairs --------------------------------------------------------
def test_the_real_trace_as_a_prediction_scores_100_on_every_metric() -> None:
    trace = record(LOOP, "f(3)")
    perfect = prediction_of(trace, render_cwm(trace, context=False).split("<|frame_sep|>", 1)[1])
    assert perfect.parsed.valid
    assert trace_metrics(trace.events, perfect.parsed) == dict.fromkeys(
        trace_metrics(trace.events, perfect.parsed), 1.0
    )
    assert first_divergence(trace.events, perfect.parsed) is None


def test_metrics_of_a_prediction_with_known_mistakes() -> None:
    trace = record("def f(x):\n    y = x + 1\n    return y * 2\n", "f(1)")
    # real: call {x: 1}; line "y = x + 1" {x: ..}; line "return y * 2" {x: .., y: 2}; return "4"
    frames = (
        '<|line_sep|>{"x": ".."}<|action_sep|>    y = x + 1\n<|frame_sep|>'  # right
        '<|line_sep|>{"x": "..", "y": "3"}<|action_sep|>    return y * 2\n<|frame_sep|>'  # y wrong
        '<|return_sep|><|action_sep|>    return y * 2\n<|arg_sep|>"6"<|frame_sep|>'  # value wrong
    )
    m = trace_metrics(trace.events, prediction_of(trace, frames).parsed)
    assert m["valid_format"] == 1.0 and m["action"] == 1.0
    assert m["state"] == 0.5 and m["valid_json"] == 1.0  # 2 line frames scored, one right
    assert m["key_match"] == 1.0
    assert m["key_value_match"] == pytest.approx((1 + 1 / 3) / 2)  # {x,y=3} vs {x,y=2}: 1 of 3 pairs shared
    assert m["output"] == 0.0
    assert first_divergence(trace.events, prediction_of(trace, frames).parsed) == 2


def test_output_compares_values_not_spelling_and_broken_frames_count_as_invalid() -> None:
    trace = record("def f():\n    return [1, 2]\n", "f()")
    spaced = '<|line_sep|>{}<|action_sep|>    return [1, 2]\n<|frame_sep|><|return_sep|><|action_sep|>    return [1, 2]\n<|arg_sep|>"[1,2]"<|frame_sep|>'
    assert trace_metrics(trace.events, prediction_of(trace, spaced).parsed)["output"] == 1.0
    broken = '<|line_sep|>{"oops<|action_sep|>    return [1, 2]\n<|frame_sep|>'
    m = trace_metrics(trace.events, prediction_of(trace, broken).parsed)
    assert m["valid_format"] == 0.0 and m["valid_json"] == 0.0 and m["output"] == 0.0
    assert macro([m, dict.fromkeys(m, 1.0)])["valid_format"] == 50.0


def test_shown_locals_does_not_change_a_frame_it_already_gave() -> None:
    trace = record(LOOP, "f(2)")
    frames = list(shown_locals(trace.events))
    assert frames[0][1] == {"n": "2"}  # the call frame's own locals, not the scope grown since


# -- copy -------------------------------------------------------------------------------
def test_copy_walks_the_function_from_its_def_then_returns_none() -> None:
    trace = record("x = 1\n\ndef f(n):\n    a = n\n    return a\n\ny = 2\n", "f(5)")
    [p] = CopyPredictor().free([Task.of(trace)])
    assert p.parsed.valid and p.stopped == "end"
    assert [(e.kind, e.source_line) for e in p.events] == [
        ("call", "def f(n):"),
        ("line", "    a = n"),
        ("line", "    return a"),
        ("return", "    return a"),
    ]
    assert p.events[-1].value == "None" and all(e.locals == {"n": "5"} for e in p.events[:-1])


def test_copy_single_step_is_the_training_baseline() -> None:
    from training.metrics import copy_scores

    traces = train_support.traces()
    for trace, result in zip(traces, CopyPredictor().single_step(traces), strict=True):
        scores = copy_scores(trace)
        assert len(result.steps) == scores.frames
        assert sum(s.exact for s in result.steps) == scores.exact
        assert sum(s.kind_action for s in result.steps) == scores.kind_action


# -- oracle -----------------------------------------------------------------------------
@pytest.mark.docker
def test_the_oracle_reproduces_the_real_trace_exactly() -> None:
    from benchmarks.predictors import OraclePredictor

    trace = cwm_trace(LOOP, "f(4)")
    oracle = OraclePredictor()
    [p] = oracle.free([Task.of(trace)])
    assert compare_free(trace, p, "oracle").first_divergence is None
    assert all(v == 1.0 for v in trace_metrics(trace.events, p.parsed).values())
    [steps] = oracle.single_step([trace])
    assert steps.steps and all(s.exact for s in steps.steps)


def cwm_trace(source: str, entry: str) -> Any:
    from sandbox import Sandbox
    from sandbox.job import Job

    with Sandbox() as box:
        return box.run(Job(source, entry))


# -- hf: a model trained here -------------------------------------------------------------
@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("trl", reason="needs the train extra")
    dataset = train_support.write_dataset(tmp_path_factory.mktemp("traces"))
    return train_support.train_model(
        tmp_path_factory.mktemp("model"), dataset, steps=300, hidden_size=128, intermediate_size=256
    )


@pytest.fixture(scope="module")
def hf(model: Path) -> Any:
    from benchmarks.predictors.hf import HFPredictor

    return HFPredictor(str(model), batch_size=4, max_new_tokens=400)


@pytest.mark.slow
def test_hf_free_running_writes_the_trace_it_learnt_and_stops_when_the_entry_returns(hf: Any) -> None:
    traces = train_support.traces()
    predictions = hf.free([Task.of(t) for t in traces])
    right = [compare_free(t, p, "hf").first_divergence is None for t, p in zip(traces, predictions, strict=True)]
    assert sum(right) >= 2, [p.text[:300] for p in predictions]  # overfit: most come back exactly
    for trace, p in zip(traces, predictions, strict=True):
        if compare_free(trace, p, "hf").first_divergence is None:
            assert p.stopped == "end" and p.events[-1].kind == "return"  # stopped at the entry's return


@pytest.mark.slow
def test_hf_batched_rollouts_equal_one_at_a_time_and_max_frames_holds(hf: Any) -> None:
    tasks = [Task.of(t) for t in train_support.traces()[::3]]
    together = [p.text for p in hf.free(tasks)]
    alone = [hf.free([t])[0].text for t in tasks]
    assert together == alone
    [short] = hf.free(tasks[:1], max_frames=3)
    assert short.stopped in ("max_frames", "end") and short.parsed.frames <= 3


@pytest.mark.slow
def test_hf_rollout_encodes_the_prompt_once_then_one_token_per_step(hf: Any) -> None:
    widths: list[int] = []
    handle = hf.model.register_forward_pre_hook(
        lambda module, args, kwargs: widths.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    hf.lookup_tokens = 0  # plain decoding (prompt lookup checks several tokens a pass: below)
    try:
        [p] = hf.free([Task.of(train_support.traces()[0])])
    finally:
        handle.remove()
        hf.lookup_tokens = DEFAULT_LOOKUP_TOKENS
    prompt = len(hf.prompt_ids(p.task))
    assert widths[0] == prompt and len(widths) > 5
    assert set(widths[1:]) == {1}  # the KV cache: the prefix is never encoded again


@pytest.mark.slow
def test_hf_prompt_lookup_writes_the_same_rollouts_in_fewer_passes(hf: Any) -> None:
    widths: list[int] = []
    handle = hf.model.register_forward_pre_hook(
        lambda module, args, kwargs: widths.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    tasks = [Task.of(t) for t in train_support.traces()[::2]]
    try:
        looked: list[Any] = []
        passes = []
        for task in tasks:  # one program at a time: the way prompt lookup is used
            widths.clear()
            looked.append(hf.free([task])[0])
            passes.append(list(widths))
        hf.lookup_tokens = 0
        widths.clear()
        plain = [hf.free([task])[0] for task in tasks]
        steps = len(widths) - len(tasks)  # plain: one pass a token after each prompt
        cut = [(t, n) for t in tasks for n in (2, 3, 4, 5, 6)]  # a frame limit mid-draft
        plain_max = [hf.free([t], max_frames=n)[0] for t, n in cut]
        hf.lookup_tokens = DEFAULT_LOOKUP_TOKENS
        looked_max = [hf.free([t], max_frames=n)[0] for t, n in cut]
    finally:
        handle.remove()
        hf.lookup_tokens = DEFAULT_LOOKUP_TOKENS
    # the same tokens and the same stop: a draft past the entry's return or max_frames is cut
    assert [(p.text, p.stopped) for p in looked] == [(p.text, p.stopped) for p in plain]
    assert [(p.text, p.stopped) for p in looked_max] == [(p.text, p.stopped) for p in plain_max]
    for task, one in zip(tasks, passes, strict=True):
        # the prompt once (with the first draft); then a token and its draft a pass
        assert 0 <= one[0] - len(hf.prompt_ids(task)) <= DEFAULT_LOOKUP_TOKENS
        assert max(one[1:]) <= DEFAULT_LOOKUP_TOKENS + 1
    assert sum(len(one) - 1 for one in passes) < steps / 2  # a trace repeats itself: most drafts kept


@pytest.mark.slow
def test_hf_single_step_in_one_pass_agrees_with_greedy_decoding_of_each_frame(hf: Any) -> None:
    import torch

    from training.examples import ExampleReport, trace_examples

    traces = train_support.traces()[::2]
    results = hf.single_step(traces)
    checked = agreed = 0
    for trace, result in zip(traces, results, strict=True):
        assert [s.index for s in result.steps] == sorted(s.index for s in result.steps)
        # each frame as the one pass saw it: in its window, after that window's own prefix
        spans = {
            span.index: (example.input_ids[: span.start], example.input_ids[span.start : span.end + 1])
            for example in trace_examples(trace, hf.encoder, hf.context_length, ExampleReport())
            for span in example.frames
        }
        for guess in result.steps[:8]:
            prefix, frame = spans[guess.index]
            with torch.no_grad():
                out = hf.model.generate(
                    input_ids=torch.tensor([prefix]),
                    attention_mask=torch.ones(1, len(prefix), dtype=torch.long),
                    max_new_tokens=len(frame),
                    do_sample=False,
                    pad_token_id=hf.pad,
                )
            generated = out[0, len(prefix) :].tolist()
            checked += 1
            if (generated == frame) == guess.exact:
                agreed += 1
                continue
            # the two may differ only where the top two logits tie within float error (the
            # cache sums in another order than one pass does)
            with torch.no_grad():
                logits = hf.model(input_ids=torch.tensor([prefix + frame])).logits[0]
            top = logits[len(prefix) - 1 : -1].topk(2, dim=-1).values
            assert float((top[:, 0] - top[:, 1]).min()) < 1e-3, (trace.program.id, guess.index)
    assert checked >= 30 and agreed >= checked - 2
    assert any(s.exact for r in results for s in r.steps)  # not a model that gets nothing right


# -- openai: a real server on loopback ----------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(model: Path) -> Iterator[Any]:
    started: list[subprocess.Popen[str]] = []

    def start(*extra: str) -> str:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.openai_server", str(model), "--port", "0", *extra],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        started.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on"), line
        return f"http://127.0.0.1:{line.split()[-1]}/v1"

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=30)


def stats(url: str) -> dict[str, int]:
    import urllib.request

    with urllib.request.urlopen(url.removesuffix("/v1") + "/stats", timeout=10) as answer:
        return dict(json.loads(answer.read()))


@pytest.mark.slow
def test_openai_predictor_writes_what_the_model_writes_and_caches_it(server: Any, hf: Any, tmp_path: Path) -> None:
    from benchmarks.predictors.served import OpenAIPredictor

    url = server()
    tasks = [Task.of(t) for t in train_support.traces()[:3]]
    served = OpenAIPredictor(url, "tiny", max_tokens=400, cache_dir=tmp_path, workers=2)
    texts = [p.text for p in served.free(tasks)]
    assert texts == [p.text for p in hf.free(tasks)]  # the same model, greedy, through HTTP
    assert stats(url)["completions"] == 3
    again = OpenAIPredictor(url, "tiny", max_tokens=400, cache_dir=tmp_path)
    assert [p.text for p in again.free(tasks)] == texts
    assert stats(url)["completions"] == 3  # answered from the cache
    other = OpenAIPredictor(url, "tiny", max_tokens=400, cache_dir=tmp_path, seed=1, temperature=0.7)
    other.free(tasks[:1])
    assert stats(url)["completions"] == 4  # other sampling settings: another entry


@pytest.fixture(scope="module")
def llama_server(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp's server (``llama-cpp-python[server]``, built by scripts/setup-llama-server.sh)
    on loopback, serving the tiny model written as GGUF."""
    import importlib.util
    import urllib.request

    if importlib.util.find_spec("llama_cpp") is None:
        if os.environ.get("CWM_REQUIRE_LLAMA_CPP"):
            pytest.fail("llama-cpp-python is not installed, and CWM_REQUIRE_LLAMA_CPP says it must be")
        pytest.skip("needs llama-cpp-python[server] (bash scripts/setup-llama-server.sh)")
    from tests.gguf_export import export

    gguf = export(model, tmp_path_factory.mktemp("gguf") / "tiny.gguf")
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "tiny"]
    log = open(tmp_path_factory.mktemp("llama") / "server.log", "w+")
    proc = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "512"], stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/models", timeout=5) as answer:
                    assert "tiny" in answer.read().decode()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"llama.cpp's server did not start: {log.read()[-2000:]}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.mark.slow
@pytest.mark.docker
def test_openai_predictor_against_llama_cpp_server_writes_what_the_model_writes(
    llama_server: str, hf: Any, tmp_path: Path
) -> None:
    """The predictor users point at llama.cpp's server, against that real server over the same
    weights: greedy, it writes what the model loaded here writes (llama.cpp's float32 kernels sum
    in another order, so a near tie may go the other way once in a while)."""
    from benchmarks.predictors.served import OpenAIPredictor

    traces = train_support.traces()
    tasks = [Task.of(t) for t in traces]
    served = OpenAIPredictor(llama_server, "tiny", max_tokens=400, cache_dir=tmp_path, workers=2)
    got = served.free(tasks)
    want = hf.free(tasks)
    same = sum(a.text == b.text for a, b in zip(got, want, strict=True))
    assert same >= len(tasks) - 2, [(a.text[:200], b.text[:200]) for a, b in zip(got, want, strict=True)]
    assert sum(compare_free(t, p, "openai").first_divergence is None for t, p in zip(traces, got, strict=True)) >= 2
    # the CWM tokens come back as text (llama.cpp leaves control tokens out of a completion)
    assert all(p.text.count("<|frame_sep|>") >= 2 for p in got)
    source = tmp_path / "f.py"
    source.write_text(traces[0].program.source)
    done = cwm(
        "predict", str(source), "--call", str(traces[0].program.entry), "--backend", "openai",
        "--base-url", llama_server, "--model", "tiny", "--compare", "--format", "json",
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["comparison"]["metrics"]["valid_format"] == 1.0


LONG = "def f():\n" + "    x = 1\n" * 300 + "    return x\n"  # a prompt of more than the server's 512 tokens


@pytest.mark.slow
def test_a_prompt_longer_than_the_served_context_is_unfit_in_every_mode(llama_server: str, tmp_path: Path) -> None:
    """The server answers 400 for it; that task is named (its place in the batch), the others
    were still asked and are cached, and `cwm predict` says it in one line."""
    from benchmarks.predictors import Unfit
    from benchmarks.predictors.served import OpenAIPredictor

    short = train_support.traces()[:2]
    traces = [short[0], record(LONG, "f()", max_events=6), short[1]]  # 6: a few frames asked for
    tasks = [Task.of(t) for t in traces]
    served = OpenAIPredictor(llama_server, "tiny", max_tokens=40, cache_dir=tmp_path / "cache")
    for ask in (lambda: served.free(tasks), lambda: served.output(tasks), lambda: served.single_step(traces)):
        with pytest.raises(Unfit, match=r"too long for the served model.*context") as caught:
            ask()
        assert list(caught.value.refused) == [1]
    assert len(list((tmp_path / "cache").rglob("*.json"))) >= 4  # the short ones' answers, free and output
    assert len(served.free([tasks[0], tasks[2]])) == 2
    # refused before anything was ever answered: the settings are wrong, not the programs; say so
    fresh = OpenAIPredictor(llama_server, "tiny", max_tokens=40, cache_dir=tmp_path / "fresh")
    with pytest.raises(PredictorError, match=r"refused the first 3 programs.*--max-new-tokens") as stopped:
        fresh.free([tasks[1]] * 3)
    assert not isinstance(stopped.value, Unfit)
    source = tmp_path / "long.py"
    source.write_text(LONG)
    done = cwm(
        "predict", str(source), "--call", "f()", "--backend", "openai", "--base-url", llama_server,
        "--model", "tiny", XDG_CACHE_HOME=str(tmp_path / "cache"),
    )  # fmt: skip
    one_line_error(done, 5, "too long for the served model")


@pytest.mark.slow
@pytest.mark.docker
def test_bench_skips_a_program_too_long_for_the_served_model_and_scores_the_rest(
    llama_server: str, tmp_path: Path
) -> None:
    from tests.test_bench import ADD_ONE, APPEND, results_of, rows_of, write_jsonl

    suite = write_jsonl(tmp_path / "mixed.jsonl", [(ADD_ONE, "f(1)"), (LONG, "f()"), (APPEND, "g([])")])
    for mode in ("full", "output"):
        out = tmp_path / mode
        done = cwm(
            "bench", "--suite", f"jsonl={suite}", "--predictor", f"openai:{llama_server}#tiny", "--mode", mode,
            "--max-new-tokens", "40", "--out", str(out), XDG_CACHE_HOME=str(tmp_path / "cache"),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert results_of(out)["samples"] == 2
        [(reason, count)] = results_of(out)["skipped"].items()
        assert count == 1 and "too long for the served model" in reason
        [skipped] = [row for row in rows_of(out).values() if row["status"] == "skipped"]
        assert "context" in skipped["detail"]  # the server's own words


@pytest.mark.slow
@pytest.mark.parametrize("status", [500, 429])
def test_openai_predictor_retries_server_errors_and_rate_limits(server: Any, tmp_path: Path, status: int) -> None:
    from benchmarks.predictors.served import OpenAIPredictor

    url = server("--fail-first", "2", "--fail-status", str(status))
    [p] = OpenAIPredictor(url, "tiny", max_tokens=50, cache_dir=tmp_path, retries=3).free(
        [Task.of(train_support.traces()[0])]
    )
    assert p.text and stats(url)["completions"] == 1


@pytest.mark.slow
def test_openai_errors_after_the_retries_are_one_line(server: Any, tmp_path: Path) -> None:
    from benchmarks.predictors.served import OpenAIPredictor

    url = server("--fail-first", "100")
    with pytest.raises(PredictorError, match="answered 500 after the retries"):
        OpenAIPredictor(url, "tiny", cache_dir=tmp_path, retries=1).free([Task.of(train_support.traces()[0])])
    source = tmp_path / "f.py"
    source.write_text(LOOP)
    down = f"http://127.0.0.1:{free_port()}/v1"
    start = time.monotonic()
    done = cwm("predict", str(source), "--call", "f(2)", "--backend", "openai", "--base-url", down, "--model", "m")
    one_line_error(done, 5, "no answer after the retries")
    assert time.monotonic() - start < 120


ODD_ANSWERS = {  # a first path part -> (status, content type, body) a broken or wrong server answers
    "html": (200, "text/html", b"<html><body>It works!</body></html>"),
    "cut": (200, "application/json", b'{"choices": [ '),
    "null": (
        200,
        "application/json",
        b'{"id": "x", "object": "text_completion", "choices": [{"index": 0, "text": null}]}',
    ),
    "empty": (200, "application/json", b'{"foo": 1}'),
    "gone": (404, "application/json", b'{"error": {"message": "no such route"}}'),
}


@pytest.fixture
def odd_server() -> Iterator[str]:
    """A real HTTP server on loopback that answers every request with what ODD_ANSWERS says
    for the first part of its path: ``{root}/html/v1`` is a server that answers HTML."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Answer(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            status, kind, body = ODD_ANSWERS[self.path.strip("/").split("/")[0]]
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self._answer()

        do_GET = _answer

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.mark.parametrize("kind", sorted(ODD_ANSWERS))
def test_an_answer_that_is_not_a_completion_is_an_error_and_is_not_cached(
    odd_server: str, tmp_path: Path, kind: str
) -> None:
    pytest.importorskip("openai", reason="needs the predict extra")
    from benchmarks.predictors.served import OpenAIPredictor

    served = OpenAIPredictor(f"{odd_server}/{kind}/v1", "m", cache_dir=tmp_path, retries=0)
    words = "answered 404; is" if kind == "gone" else "the answer is not a completion"
    with pytest.raises(PredictorError, match=words):
        served.free([Task.of(train_support.traces()[0])])
    assert not any(p.is_file() for p in tmp_path.rglob("*")), "an answer that is no completion was cached"


@pytest.mark.parametrize("url", ["http://[::1", "ftp://127.0.0.1/v1", "notaurl", "127.0.0.1:8000", "http://:80/v1"])
def test_a_base_url_that_is_no_url_is_refused_at_once(tmp_path: Path, url: str) -> None:
    source = tmp_path / "f.py"
    source.write_text(LOOP)
    done = cwm("predict", str(source), "--call", "f(2)", "--backend", "openai", "--base-url", url, "--model", "m")
    one_line_error(done, 2, "--base-url", "is not a URL")


def test_outputs_that_would_overwrite_the_program_or_cannot_be_written_are_one_line(tmp_path: Path) -> None:
    source = tmp_path / "f.py"
    source.write_text(LOOP)
    base = ["predict", str(source), "--call", "f(2)", "--backend", "copy", "--compare"]
    for flag in ("--out", "--html"):
        one_line_error(cwm(*base, flag, str(source)), 2, "it is the program being run")
        assert source.read_text() == LOOP
    one_line_error(cwm(*base, "--out", str(tmp_path / "x"), "--html", str(tmp_path / "x")), 2, "the same file")
    one_line_error(cwm("trace", str(source), "--call", "f(2)", "--out", str(source)), 2, "the program being run")
    done = cwm("predict", str(source), "--call", "f(2)", "--model", str(tmp_path), "--device", "banana")
    one_line_error(done, 2, "not a device")


@pytest.mark.docker
def test_outputs_in_a_missing_folder_are_refused_first_and_a_full_disk_is_one_line(tmp_path: Path) -> None:
    source = tmp_path / "f.py"
    source.write_text(LOOP)
    base = ["predict", str(source), "--call", "f(2)", "--backend", "copy", "--compare"]
    for flag in ("--html", "--out"):
        done = cwm(*base, flag, str(tmp_path / "new" / "f.out"), "--format", "json")
        one_line_error(done, 2, "no folder")
        assert not done.stdout  # refused before anything ran
    if Path("/dev/full").exists():
        with open("/dev/full", "w") as full:
            failed = cwm(*base, "--format", "json", stdout=full)
        one_line_error(failed, 2, "cannot write the output")


# -- the command -------------------------------------------------------------------------
@pytest.mark.docker
def test_predict_copy_compare_in_each_format(tmp_path: Path) -> None:
    source = tmp_path / "f.py"
    source.write_text(LOOP)
    base = ["predict", str(source), "--call", "f(3)", "--backend", "copy", "--compare"]
    pretty = cwm(*base, "--format", "pretty")
    assert pretty.returncode == 0, pretty.stderr
    assert "first divergence: step 3" in pretty.stdout and "predicted None, real 3 (wrong)" in pretty.stdout
    data = json.loads(cwm(*base, "--format", "json").stdout)
    assert data["comparison"]["first_divergence"] == 2 and data["comparison"]["real_return"] == "3"
    assert data["prediction"]["events"][1]["source_line"] == "    total = 0"
    text = cwm("predict", str(source), "--call", "f(3)", "--backend", "copy", "--format", "cwm").stdout
    assert parse_cwm(text).valid and "# << START_OF_TRACE" in text
    # alone, a prediction has no outcome to show: its last line says how it has the entry end
    alone = cwm("predict", str(source), "--call", "f(3)", "--backend", "oracle", "--format", "pretty").stdout
    assert alone.startswith("prediction of f(3)") and " events, " not in alone, alone
    assert alone.rstrip().splitlines()[-1].startswith("predicted: returns 3; "), alone
    raises = tmp_path / "r.py"
    raises.write_text("def f(x):\n    raise ValueError(x)\n")
    alone = cwm("predict", str(raises), "--call", "f(3)", "--backend", "oracle", "--format", "pretty").stdout
    assert alone.rstrip().splitlines()[-1].startswith("predicted: raises ValueError(3); "), alone


@pytest.mark.docker
def test_predict_bad_input_is_one_line(tmp_path: Path) -> None:
    source = tmp_path / "f.py"
    source.write_text(LOOP)
    one_line_error(cwm("predict", str(source), "--call", "f(", "--backend", "copy"), 2, "not a Python expression")
    one_line_error(cwm("predict", str(tmp_path / "none.py"), "--call", "f()", "--backend", "copy"), 2, "no such file")
    one_line_error(
        cwm("predict", str(source), "--call", "f(1)", "--model", str(tmp_path / "nope")), 2, "no such folder"
    )
    (tmp_path / "empty").mkdir()
    one_line_error(
        cwm("predict", str(source), "--call", "f(1)", "--model", str(tmp_path / "empty")), 2, "holds no config.json"
    )
    one_line_error(cwm("predict", str(source), "--call", "f(1)"), 2, "needs --model")
    one_line_error(cwm("predict", str(source), "--call", "f(1)", "--backend", "copy", "--model", "x"), 2, "--model")
    one_line_error(
        cwm("predict", str(source), "--call", "f(1)", "--backend", "openai", "--model", "m"), 2, "--base-url"
    )
    binary = tmp_path / "latin1.py"
    binary.write_bytes(b"x = '\xe9'\n")
    one_line_error(cwm("predict", str(binary), "--call", "f()", "--backend", "copy"), 2, "not UTF-8")
    one_line_error(cwm("predict", str(tmp_path), "--call", "f()", "--backend", "copy"), 2, "is a directory")
    one_line_error(cwm("predict", str(source), "--call", "f(1)", "--backend", "copy", "--constrain"), 2, "--constrain")
    for lookup in (
        ("--backend", "copy", "--lookup-tokens", "3"),
        ("--model", str(source.parent), "--lookup-tokens", "-1"),
    ):
        one_line_error(cwm("predict", str(source), "--call", "f(1)", *lookup), 2, "--lookup-tokens")
    before = tmp_path / "raises.py"
    before.write_text("raise SystemExit(3)\ndef f():\n    return 1\n")
    done = cwm("predict", str(before), "--call", "f()", "--backend", "copy")
    assert done.returncode == 1 and "failed before f() was called" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.docker
def test_predict_with_a_garbage_model_names_the_invalid_frame(tmp_path: Path) -> None:
    from training.model import build_tiny
    from training.recipe import TinyModel

    tok = train_support.tokenizer()
    import torch

    torch.manual_seed(0)
    model = build_tiny(
        TinyModel(hidden_size=32, layers=1, heads=2, kv_heads=1, intermediate_size=64), tok, 512, torch.float32, "sdpa"
    )
    model.save_pretrained(tmp_path / "garbage")
    tok.save_pretrained(tmp_path / "garbage")
    source = tmp_path / "f.py"
    source.write_text(LOOP)
    done = cwm(
        "predict",
        str(source),
        "--call",
        "f(2)",
        "--model",
        str(tmp_path / "garbage"),
        "--max-new-tokens",
        "60",
        "--format",
        "json",
    )
    assert done.returncode == 1, done.stderr
    assert "invalid frame at step" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.docker
def test_predict_an_adapter_made_for_another_base_names_both(tmp_path: Path, model: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model

    from training.model import build_tiny
    from training.recipe import TinyModel

    tok = train_support.tokenizer()
    other = build_tiny(
        TinyModel(hidden_size=48, layers=1, heads=2, kv_heads=1, intermediate_size=64), tok, 512, torch.float32, "sdpa"
    )
    other.save_pretrained(tmp_path / "other")
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tmp_path / "other")  # so the adapter names its base
    adapter = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    adapter.save_pretrained(tmp_path / "adapter")
    source = tmp_path / "f.py"
    source.write_text(LOOP)
    done = cwm("predict", str(source), "--call", "f(2)", "--model", str(model), "--adapter", str(tmp_path / "adapter"))
    one_line_error(done, 5, "was made for the base model", str(tmp_path / "other"), str(model))


@pytest.mark.slow
@pytest.mark.docker
def test_predict_with_the_trained_model_compares_and_writes_the_page(tmp_path: Path, model: Path) -> None:
    source = tmp_path / "f.py"
    source.write_text(train_support.PROGRAMS[2][0])
    page = tmp_path / "f.html"
    done = cwm(
        "predict", str(source), "--call", train_support.PROGRAMS[2][1], "--model", str(model),
        "--compare", "--format", "json", "--html", str(page),
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    data = json.loads(done.stdout)
    assert set(data) == {"prediction", "comparison"} and data["comparison"]["predictor"] == "hf"
    assert page.stat().st_size > 1000
    single = cwm(
        "predict", str(source), "--call", train_support.PROGRAMS[2][1], "--model", str(model),
        "--mode", "single-step", "--format", "json",
    )  # fmt: skip
    assert single.returncode == 0, single.stderr
    figures = json.loads(single.stdout)["comparison"]["metrics"]
    assert set(figures) == {"exact", "kind_action", "kind_state"} and figures["exact"] > 0


@pytest.mark.slow
def test_constrained_decoding_makes_even_a_random_model_write_valid_frames(tmp_path: Path) -> None:
    import torch

    from benchmarks.predictors.hf import HFPredictor
    from training.model import build_tiny
    from training.recipe import TinyModel

    tok = train_support.tokenizer()
    torch.manual_seed(1)
    shape = TinyModel(hidden_size=32, layers=1, heads=2, kv_heads=1, intermediate_size=64)
    build_tiny(shape, tok, 1024, torch.float32, "sdpa").save_pretrained(tmp_path / "random")
    tok.save_pretrained(tmp_path / "random")
    traces = train_support.traces()[::4]
    tasks = [Task.of(t) for t in traces]
    free = HFPredictor(str(tmp_path / "random"), max_new_tokens=300).free(tasks, max_frames=8)
    assert not all(p.parsed.valid for p in free)  # unconstrained, it writes garbage
    for sample in (0.0, 1.0):
        steered = HFPredictor(str(tmp_path / "random"), max_new_tokens=2000, constrain=True, temperature=sample)
        for trace, p in zip(traces, steered.free(tasks, max_frames=8), strict=True):
            assert p.parsed.valid and not p.parsed.truncated, (p.error_lines(), p.text[:500])
            assert p.parsed.frames >= 2
            lines = set(trace.program.source.split("\n"))
            assert all(e.source_line in lines for e in p.events)
            for frame in p.text.split("<|frame_sep|>"):  # each key a variable's name, once
                if "<|action_sep|>" in frame and "{" in frame.split("<|action_sep|>")[0]:
                    pairs = json.loads(frame.split("<|action_sep|>")[0].split("_sep|>", 1)[1], object_pairs_hook=list)
                    keys = [k for k, _ in pairs]
                    assert len(set(keys)) == len(keys) and all(k.isidentifier() for k in keys), frame


def test_the_constrained_locals_take_each_variable_name_once_and_nothing_else() -> None:
    from benchmarks.predictors.constrain import _Json

    def fits(text: str, scope: frozenset[str] = frozenset({"y"})) -> bool:
        return _Json("locals").feed(text, set(scope))

    assert fits('{"x1": "2", "y": "..", "_z": "\\u00e9"}')
    assert fits('{"caf\\u00e9": "1"}')  # a non-ASCII name, as json.dumps writes it
    for bad in ('{":": "1"}', '{"": "1"}', '{"1x": "1"}', '{"a b": "1"}', '{"a": "1", "a": "2"}', '{"q": ".."}'):
        assert not fits(bad), bad


def test_single_step_reads_each_guess_as_after_the_whole_true_prefix() -> None:
    """compare_single_step reads a guess after the true frame before it only (linear in the trace's
    length); what it reads must be what reading it after the whole true prefix gives."""
    from benchmarks.compare import compare_single_step
    from tracer.cwm_render import render_context, render_frame

    source = "def h(a):\n    b = a * 2\n    return b\n\ndef f(n):\n    t = 0\n    for i in range(n):\n        t += h(i)\n    return t\n"
    trace = record(source, "f(3)")
    [steps] = CopyPredictor().single_step([trace])
    comparison = compare_single_step(trace, steps, "copy")
    frames = [render_frame(e, s) for e, s in shown_locals(trace.events)]
    context = render_context(source, trace.events[0].line)
    checked = 0
    for step, guess in zip(comparison.steps[1:], steps.steps, strict=True):
        whole = parse_cwm(context + "".join(frames[: step.index]) + guess.text, source=source)
        expected = whole.events[-1] if whole.event_frames and whole.event_frames[-1] == step.index else None
        got = step.predicted
        assert (got is None) == (expected is None), step.index
        if got is not None and expected is not None:
            assert (got.kind, got.source_line, got.locals, got.value) == (
                expected.kind,
                expected.source_line,
                expected.locals,
                expected.value,
            )
            if source.split("\n").count(got.source_line) == 1:  # a text on several lines is placed by a guess
                assert got.line == expected.line
            checked += 1
    assert checked >= len(trace.events) // 2


def test_a_generation_cut_by_the_token_limit_loses_only_its_unfinished_last_frame() -> None:
    trace = record(LOOP, "f(2)")
    whole = render_cwm(trace, context=False).split("<|frame_sep|>", 1)[1]
    first = whole[: whole.index("<|frame_sep|>") + len("<|frame_sep|>")]
    cut = first + '<|line_sep|>{"n": ".."'  # the limit struck inside the second frame
    kept = prediction_of(trace, "")
    kept = Prediction.from_text(kept.task, cut, "max_tokens")
    assert kept.text == first and kept.parsed.valid and len(kept.events) == 2
    ended = Prediction.from_text(kept.task, cut, "eos")  # the model itself stopped there: its mistake
    assert ended.text == cut and not ended.parsed.valid
    assert Prediction.from_text(kept.task, '<|line_sep|>{"n"', "max_tokens").text == ""
