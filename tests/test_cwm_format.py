"""The CWM token format: exact rendering, and a parser that reads it back and never raises."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tracer.contract import Event, Outcome, Program, Trace
from tracer.cwm_parse import FrameError, ParseResult, parse_cwm
from tracer.cwm_render import render_context, render_cwm, render_cwm_events
from tracer.cwm_tokens import (
    ACTION_SEP,
    ARG_SEP,
    CALL_SEP,
    CONTEXT_START,
    FRAME_SEP,
    SPECIAL_TOKENS,
)

# -- hand-built traces -------------------------------------------------------------
SOURCE_FG = """\
def g(y):
    return y * 2

def f(x):
    a = g(x)
    try:
        raise ValueError("bad")
    except ValueError:
        a = a + 1
    return a
"""
_FG = SOURCE_FG.split("\n")


def ev(kind, line, func, depth, locals_=None, value=None, lines=_FG):
    return Event(kind, line, lines[line - 1], func, depth, locals_, value)


def trace_fg() -> Trace:
    events = [
        ev("call", 4, "f", 0, {"x": "3"}),
        ev("line", 5, "f", 0, {"x": "3"}),
        ev("call", 1, "g", 1, {"y": "3"}),
        ev("line", 2, "g", 1, {"y": "3"}),
        ev("return", 2, "g", 1, value="6"),
        ev("line", 6, "f", 0, {"x": "3", "a": "6"}),
        ev("line", 7, "f", 0, {"x": "3", "a": "6"}),
        ev("exception", 7, "f", 0, value="ValueError('bad')"),
        ev("line", 8, "f", 0, {"x": "3", "a": "6"}),
        ev("line", 9, "f", 0, {"x": "3", "a": "6"}),
        ev("line", 10, "f", 0, {"x": "3", "a": "7"}),
        ev("return", 10, "f", 0, value="7"),
    ]
    return Trace(Program("fg", SOURCE_FG, "f(3)"), events, Outcome("returned", "7", events=len(events)))


EXPECTED_FG = (
    "<|trace_context_start|>"
    "def g(y):\n"
    "    return y * 2\n"
    "\n"
    "def f(x):  # << START_OF_TRACE\n"
    "    a = g(x)\n"
    "    try:\n"
    '        raise ValueError("bad")\n'
    "    except ValueError:\n"
    "        a = a + 1\n"
    "    return a\n"
    "<|frame_sep|>"
    '<|call_sep|>{"x": "3"}<|action_sep|>def f(x):\n<|frame_sep|>'
    '<|line_sep|>{"x": ".."}<|action_sep|>    a = g(x)\n<|frame_sep|>'
    '<|call_sep|>{"y": "3"}<|action_sep|>def g(y):\n<|frame_sep|>'
    '<|line_sep|>{"y": ".."}<|action_sep|>    return y * 2\n<|frame_sep|>'
    '<|return_sep|><|action_sep|>    return y * 2\n<|arg_sep|>"6"<|frame_sep|>'
    # after a return, the caller's first line frame is written in full
    '<|line_sep|>{"x": "3", "a": "6"}<|action_sep|>    try:\n<|frame_sep|>'
    '<|line_sep|>{"x": "..", "a": ".."}<|action_sep|>        raise ValueError("bad")\n<|frame_sep|>'
    '<|exception_sep|><|action_sep|>        raise ValueError("bad")\n<|arg_sep|>"ValueError(\'bad\')"<|frame_sep|>'
    # an exception frame does not stop the walk back
    '<|line_sep|>{"x": "..", "a": ".."}<|action_sep|>    except ValueError:\n<|frame_sep|>'
    '<|line_sep|>{"x": "..", "a": ".."}<|action_sep|>        a = a + 1\n<|frame_sep|>'
    '<|line_sep|>{"x": "..", "a": "7"}<|action_sep|>    return a\n<|frame_sep|>'
    '<|return_sep|><|action_sep|>    return a\n<|arg_sep|>"7"<|frame_sep|>'
)

SOURCE_HK = """\
def h(s):
    raise KeyError(s)

def k(s):
    try:
        h(s)
    except KeyError as e:
        return s"""  # no final newline: the renderer adds one
_HK = SOURCE_HK.split("\n")
S = "'é\"\\\\'"  # repr with a non-ASCII letter, a double quote and an escaped backslash


def trace_hk() -> Trace:
    def e(kind, line, func, depth, locals_=None, value=None):
        return ev(kind, line, func, depth, locals_, value, lines=_HK)

    events = [
        e("call", 4, "k", 0, {"s": S}),
        e("line", 5, "k", 0, {"s": S}),
        e("line", 6, "k", 0, {"s": S}),
        e("call", 1, "h", 1, {"s": S}),
        e("line", 2, "h", 1, {"s": S}),
        e("exception", 2, "h", 1, value=f"KeyError({S})"),
        e("return", 2, "h", 1, value=None),  # left by the exception
        e("exception", 6, "k", 0, value=f"KeyError({S})"),
        e("line", 7, "k", 0, {"s": S}),
        e("line", 8, "k", 0, {"s": S, "e": f"KeyError({S})"}),
        e("return", 8, "k", 0, value=S),
    ]
    return Trace(Program("hk", SOURCE_HK, "k('é\"\\\\')"), events)


J = json.dumps(S)  # "'\u00e9\"\\\\'" with its quotes
EXPECTED_HK_FRAMES = (
    f'<|call_sep|>{{"s": {J}}}<|action_sep|>def k(s):\n<|frame_sep|>'
    '<|line_sep|>{"s": ".."}<|action_sep|>    try:\n<|frame_sep|>'
    '<|line_sep|>{"s": ".."}<|action_sep|>        h(s)\n<|frame_sep|>'
    f'<|call_sep|>{{"s": {J}}}<|action_sep|>def h(s):\n<|frame_sep|>'
    '<|line_sep|>{"s": ".."}<|action_sep|>    raise KeyError(s)\n<|frame_sep|>'
    f"<|exception_sep|><|action_sep|>    raise KeyError(s)\n<|arg_sep|>{json.dumps('KeyError(' + S + ')')}<|frame_sep|>"
    "<|return_sep|><|action_sep|>    raise KeyError(s)\n<|arg_sep|>null<|frame_sep|>"
    f"<|exception_sep|><|action_sep|>        h(s)\n<|arg_sep|>{json.dumps('KeyError(' + S + ')')}<|frame_sep|>"
    # the return (of h) stops the walk, the exception frame is skipped: s in full
    f'<|line_sep|>{{"s": {J}}}<|action_sep|>    except KeyError as e:\n<|frame_sep|>'
    f'<|line_sep|>{{"s": "..", "e": {json.dumps("KeyError(" + S + ")")}}}<|action_sep|>        return s\n<|frame_sep|>'
    f"<|return_sep|><|action_sep|>        return s\n<|arg_sep|>{J}<|frame_sep|>"
)


# -- rendering -----------------------------------------------------------------------
def test_special_tokens_are_exactly_the_tokens_the_renderer_writes() -> None:
    """A tokenizer given SPECIAL_TOKENS (in this order: their ids) knows every token of a rendering."""
    import re

    written = re.findall(r"<\|[a-z_]+\|>", render_cwm(trace_fg()) + render_cwm(trace_hk()))
    assert sorted(set(written)) == sorted(SPECIAL_TOKENS) and len(set(SPECIAL_TOKENS)) == len(SPECIAL_TOKENS)
    assert SPECIAL_TOKENS == (
        "<|trace_context_start|>",
        "<|frame_sep|>",
        "<|call_sep|>",
        "<|line_sep|>",
        "<|return_sep|>",
        "<|exception_sep|>",
        "<|action_sep|>",
        "<|arg_sep|>",
    )


def test_render_exact_bytes() -> None:
    assert render_cwm(trace_fg()) == EXPECTED_FG


def test_render_without_context() -> None:
    text = render_cwm(trace_fg(), context=False)
    assert text == EXPECTED_FG[EXPECTED_FG.index(FRAME_SEP) + len(FRAME_SEP) :]
    assert text == render_cwm_events(trace_fg().events)


def test_render_unwound_return_unicode_and_quotes() -> None:
    text = render_cwm(trace_hk())
    context = render_context(SOURCE_HK, 4)
    assert context.endswith(
        "def k(s):  # << START_OF_TRACE\n    try:\n" + SOURCE_HK[SOURCE_HK.index("        h(s)") :] + "\n<|frame_sep|>"
    )
    assert text == context + EXPECTED_HK_FRAMES
    assert "\\u00e9" in text and "é" not in text.split(FRAME_SEP, 1)[1]  # ensure_ascii in the frames
    assert "<|arg_sep|>null<|frame_sep|>" in text


def test_render_context_edges() -> None:
    assert render_context("x = 1\n", 0) == "<|trace_context_start|>x = 1\n<|frame_sep|>"
    assert render_context("x = 1", 0) == "<|trace_context_start|>x = 1\n<|frame_sep|>"
    assert render_context("x = 1", 1) == "<|trace_context_start|>x = 1  # << START_OF_TRACE\n<|frame_sep|>"
    assert render_context("a\nb\n", 9) == "<|trace_context_start|>a\nb\n<|frame_sep|>"
    empty = Trace(Program("e", "pass\n"), [])
    assert render_cwm(empty) == "<|trace_context_start|>pass\n<|frame_sep|>"
    assert render_cwm(empty, context=False) == ""


def test_call_frame_always_full_and_return_resets() -> None:
    lines = ["def f(a):", "    b = a", "    return b"]
    events = [
        Event("call", 1, lines[0], "f", 0, {"a": "1"}),
        Event("line", 2, lines[1], "f", 0, {"a": "1"}),
        Event("call", 1, lines[0], "f", 1, {"a": "1"}),  # same values, still full
        Event("return", 3, lines[2], "f", 1, value="1"),
        Event("line", 3, lines[2], "f", 0, {"a": "1", "b": "1"}),  # full after return
        Event("line", 3, lines[2], "f", 0, {"b": "1"}),  # a missing: walk goes on
        Event("line", 3, lines[2], "f", 0, {"a": "1", "b": "2"}),
    ]
    frames = render_cwm_events(events).split(FRAME_SEP)
    assert frames[2].startswith('<|call_sep|>{"a": "1"}')
    assert frames[4].startswith('<|line_sep|>{"a": "1", "b": "1"}')
    assert frames[5].startswith('<|line_sep|>{"b": ".."}')
    assert frames[6].startswith('<|line_sep|>{"a": "..", "b": "2"}')


# -- parsing the hand-built traces -----------------------------------------------------
@pytest.mark.parametrize("make", [trace_fg, trace_hk])
def test_parse_recovers_every_field(make) -> None:
    trace = make()
    result = parse_cwm(render_cwm(trace))
    assert isinstance(result, ParseResult)
    assert result.valid and result.complete and not result.truncated
    assert result.errors == []
    assert result.source == trace.program.source + ("" if trace.program.source.endswith("\n") else "\n")
    assert result.start_line == trace.events[0].line
    assert result.frames == len(trace.events)
    assert result.event_frames == list(range(len(trace.events)))
    # line, func and depth are guesses, but right on these programs
    assert result.events == trace.events


def test_parse_without_context_uses_given_source() -> None:
    trace = trace_fg()
    body = render_cwm(trace, context=False)
    with_source = parse_cwm(body, source=SOURCE_FG)
    assert with_source.valid and with_source.source is None
    assert with_source.events == trace.events
    bare = parse_cwm(body)
    assert bare.valid
    assert [e.line for e in bare.events] == [0] * len(trace.events)
    assert [e.depth for e in bare.events] == [e.depth for e in trace.events]
    assert [e.func for e in bare.events] == [e.func for e in trace.events]  # from the def lines
    assert [(e.kind, e.source_line, e.locals, e.value) for e in bare.events] == [
        (e.kind, e.source_line, e.locals, e.value) for e in trace.events
    ]


def test_parse_tolerates_missing_newline_and_marker_on_source_line() -> None:
    text = (
        '<|call_sep|>{"x": "1"}<|action_sep|>def f(x):  # << START_OF_TRACE\n<|frame_sep|>'
        '<|line_sep|>{"x": ".."}<|action_sep|>    return x<|frame_sep|>'
        '<|return_sep|><|action_sep|>    return x<|arg_sep|>"1"<|frame_sep|>'
    )
    result = parse_cwm(text, source="def f(x):\n    return x\n")
    assert result.valid
    assert [e.source_line for e in result.events] == ["def f(x):", "    return x", "    return x"]
    assert [e.line for e in result.events] == [1, 2, 2]
    assert result.events[1].locals == {"x": "1"}


def test_parse_decorated_function_name() -> None:
    source = "import functools\n\n@functools.cache\ndef fib(n):\n    return n\n"
    text = '<|call_sep|>{"n": "1"}<|action_sep|>@functools.cache\n<|frame_sep|>'
    result = parse_cwm(render_context(source, 3) + text)
    assert result.valid
    assert result.events[0].func == "fib" and result.events[0].line == 3


def test_parse_prefers_nearest_duplicate_line() -> None:
    source = "def f(n):\n    n = 1\n    n = 1\n    n = 1\n    return n\n"
    lines = source.split("\n")
    events = [
        Event("call", 1, lines[0], "f", 0, {"n": "0"}),
        Event("line", 2, lines[1], "f", 0, {"n": "0"}),
        Event("line", 3, lines[2], "f", 0, {"n": "1"}),
        Event("line", 4, lines[3], "f", 0, {"n": "1"}),
        Event("line", 5, lines[4], "f", 0, {"n": "1"}),
        Event("return", 5, lines[4], "f", 0, value="1"),
    ]
    result = parse_cwm(render_cwm(Trace(Program("d", source), events)))
    assert [e.line for e in result.events] == [1, 2, 3, 4, 5, 5]


def test_literal_dots_in_a_call_frame_are_a_value() -> None:
    events = [
        Event("call", 1, "def f(x):", "f", 0, {"x": ".."}),
        Event("line", 2, "    return x", "f", 0, {"x": ".."}),
        Event("return", 2, "    return x", "f", 0, value=".."),
    ]
    text = render_cwm_events(events)
    result = parse_cwm(text)
    assert result.valid
    assert [e.locals for e in result.events] == [{"x": ".."}, {"x": ".."}, None]
    assert render_cwm_events(result.events) == text


def test_special_tokens_inside_values_survive() -> None:
    nasty = f"'{FRAME_SEP}{ACTION_SEP}{ARG_SEP}{CALL_SEP}'"
    events = [
        Event("call", 1, "def f(x):", "f", 0, {"x": nasty}),
        Event("line", 2, "    return x", "f", 0, {"x": nasty}),
        Event("return", 2, "    return x", "f", 0, value=nasty),
    ]
    text = render_cwm_events(events)
    result = parse_cwm(text)
    assert result.valid, result.errors
    assert render_cwm_events(result.events) == text
    assert result.events[2].value == nasty


# -- malformed text ----------------------------------------------------------------------
FRAME0 = '<|call_sep|>{"x": "1"}<|action_sep|>def f(x):\n<|frame_sep|>'
FRAME1 = '<|line_sep|>{"x": ".."}<|action_sep|>    y = x\n<|frame_sep|>'
GOOD_LINE = '<|line_sep|>{"x": "1", "y": "1"}<|action_sep|>    return y\n<|frame_sep|>'
GOOD_RETURN = '<|return_sep|><|action_sep|>    return y\n<|arg_sep|>"1"<|frame_sep|>'


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            '<|line_sep|>{"x": "1" "y": "2"}<|action_sep|>    y = x\n<|frame_sep|>',
            "locals are not a JSON object: Expecting ',' delimiter",
        ),
        ('<|line_sep|>["x"]<|action_sep|>    y = x\n<|frame_sep|>', "locals are not a JSON object, got an array"),
        (
            '<|line_sep|>{"x": 1}<|action_sep|>    y = x\n<|frame_sep|>',
            "the value of 'x' is not a string, got a number",
        ),
        ('<|line_sep|>{"z": ".."}<|action_sep|>    y = x\n<|frame_sep|>', "'..' for 'z' has no earlier value"),
        ('<|line_sep|>{"x": ".."}    y = x\n<|frame_sep|>', "missing <|action_sep|>"),
        (
            '<|line_sep|>{"x": ".."}<|action_sep|>    y = x\n<|line_sep|>{}<|frame_sep|>',
            "unexpected <|line_sep|> after the source line",
        ),
        ('<|step_sep|>{"x": ".."}<|action_sep|>    y = x\n<|frame_sep|>', "unknown token <|step_sep|>"),
        ("<|action_sep|>    y = x\n<|frame_sep|>", "frame starts with <|action_sep|>"),
        ('{"x": ".."}<|action_sep|>    y = x\n<|frame_sep|>', "frame does not start with a frame token"),
        ("<|frame_sep|>", "empty frame"),
        ('<|line_sep|>{"x": ".."}<|action_sep|>    y = x<|line_sep|>{}<|frame_sep|>', "unexpected <|line_sep|> after"),
        ('<|line_sep|>{"x": ".."}<|action_sep|>    y = x\n    z = 1\n<|frame_sep|>', "unexpected '    z = 1' after"),
        (
            '<|line_sep|>{"x": "1}<|action_sep|>    y = x\n<|frame_sep|>',
            "locals are not a JSON object: Invalid control character",
        ),
        ('<|return_sep|>    return y\n<|arg_sep|>"1"<|frame_sep|>', "missing <|action_sep|>"),
        (
            '<|return_sep|>{}<|action_sep|>    return y\n<|arg_sep|>"1"<|frame_sep|>',
            "unexpected text before <|action_sep|>",
        ),
        ('<|return_sep|><|action_sep|>    return y\n"1"<|frame_sep|>', "missing <|arg_sep|>"),
        (
            "<|return_sep|><|action_sep|>    return y\n<|arg_sep|>[1, 2]<|frame_sep|>",
            "not a JSON string or null, got an array",
        ),
        (
            '<|exception_sep|><|action_sep|>    y = x\n<|arg_sep|>"oops<|frame_sep|>',
            "the exception value is not valid JSON: Unterminated string",
        ),
        ('<|exception_sep|><|action_sep|>    y = x\n<|arg_sep|>"a" "b"<|frame_sep|>', "expected <|frame_sep|>"),
    ],
)
def test_malformed_frame_is_reported_at_its_index(bad: str, message: str) -> None:
    text = render_context("def f(x):\n    y = x\n    return y\n", 1) + FRAME0 + FRAME1 + bad + GOOD_LINE + GOOD_RETURN
    result = parse_cwm(text)
    assert not result.valid and not result.complete
    assert len(result.errors) == 1, result.errors
    error = result.errors[0]
    assert isinstance(error, FrameError)
    assert error.frame == 2
    assert message in error.message, error.message
    assert str(error).startswith("frame 2: ")
    # reading goes on after the broken frame
    assert result.event_frames == [0, 1, 3, 4]
    assert result.events[2].locals == {"x": "1", "y": "1"}
    assert result.events[3].value == "1"
    assert result.frames == 5


def test_unterminated_last_frame() -> None:
    body = FRAME0 + FRAME1 + GOOD_LINE + GOOD_RETURN
    cut = body[: -len(FRAME_SEP)]  # readable, but not closed
    result = parse_cwm(cut)
    assert result.valid and result.truncated and not result.complete
    assert [e.kind for e in result.events] == ["call", "line", "line", "return"]
    cut = body[: -len(FRAME_SEP) - 2]  # inside the value's JSON
    result = parse_cwm(cut)
    assert result.truncated and [e.frame for e in result.errors] == [3]
    assert "not valid JSON" in result.errors[0].message


def test_cut_inside_the_closing_token() -> None:
    for body in (FRAME0 + FRAME1, FRAME0 + FRAME1 + GOOD_LINE + GOOD_RETURN):
        for k in range(1, len(FRAME_SEP)):
            result = parse_cwm(body[:-k])
            assert result.valid and result.truncated, (k, result.errors)
            assert result.events == parse_cwm(body).events


def test_special_token_in_a_known_source_line() -> None:
    source = 'def f():\n    return "<|line_sep|>"\n'
    events = [
        Event("call", 1, "def f():", "f", 0, {}),
        Event("line", 2, '    return "<|line_sep|>"', "f", 0, {}),
        Event("return", 2, '    return "<|line_sep|>"', "f", 0, value="'<|line_sep|>'"),
    ]
    text = render_cwm(Trace(Program("s", source), events))
    result = parse_cwm(text)
    assert result.valid, result.errors
    assert result.events == events
    # without the source, the token looks like a frame run into the line
    assert [e.frame for e in parse_cwm(text.split(FRAME_SEP, 1)[1]).errors] == [1, 2]


def test_unclosed_context_and_odd_inputs() -> None:
    result = parse_cwm(CONTEXT_START + "def f(x):  # << START_OF_TRACE\n    return x\n")
    assert result.source == "def f(x):\n    return x\n" and result.start_line == 1
    assert [e.frame for e in result.errors] == [-1] and result.truncated
    assert str(result.errors[0]).startswith("context: ")
    assert parse_cwm("").valid and parse_cwm("").events == []
    assert parse_cwm(" \n").valid
    assert parse_cwm(FRAME0.encode()).valid  # type: ignore[arg-type]
    assert not parse_cwm(None).valid  # type: ignore[arg-type]
    deep = '<|line_sep|>{"x": ' + "[" * 100_000 + "<|frame_sep|>"
    assert [e.frame for e in parse_cwm(deep).errors] == [0]


def test_context_mentioning_frame_sep() -> None:
    source = f"def f():\n    return '{FRAME_SEP}'\n"
    events = [
        Event("call", 1, "def f():", "f", 0, {}),
        Event("line", 2, f"    return '{FRAME_SEP}'", "f", 0, {}),
        Event("return", 2, f"    return '{FRAME_SEP}'", "f", 0, value=repr(FRAME_SEP)),
    ]
    result = parse_cwm(render_cwm(Trace(Program("s", source), events)))
    assert result.source == source
    # the source line itself holds the token, so those frames are broken, but nothing raises
    assert result.events[0] == events[0]


# -- properties ------------------------------------------------------------------------------
IDENT = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
VALUE = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["'a'", '"', "\\", "\\n", "\n", "..x", "...", "'..'", "é", "🐍", "None", "[1, 2]"]),
).filter(lambda v: v != "..")  # a line frame cannot tell a literal ".." from "same as before"
# source lines holding special-token text are covered by the example tests above;
# here (hypothesis also draws string constants from the code under test) they are left out
SOURCE_LINE = st.text(st.characters(blacklist_characters="\n"), max_size=16).filter(lambda line: "<|" not in line)


@st.composite
def traces(draw) -> Trace:
    lines = draw(st.lists(SOURCE_LINE, min_size=1, max_size=6))
    source = "\n".join(lines) + draw(st.sampled_from(["", "\n"]))

    def at() -> tuple[int, str]:
        number = draw(st.integers(1, len(lines)))
        return number, lines[number - 1]

    events: list[Event] = []
    stack: list[dict[str, str]] = []

    def call() -> None:
        number, text = at()
        state = draw(st.dictionaries(IDENT, VALUE, max_size=3))
        events.append(Event("call", number, text, "f", len(stack), dict(state)))
        stack.append(state)

    call()
    for _ in range(draw(st.integers(0, 25))):
        if not stack:
            break
        kind = draw(st.sampled_from(["line", "line", "line", "call", "return", "exception"]))
        if kind == "call" and len(stack) < 4:
            call()
            continue
        number, text = at()
        depth = len(stack) - 1
        if kind == "return":
            value = draw(st.one_of(st.none(), VALUE))
            events.append(Event("return", number, text, "f", depth, value=value))
            stack.pop()
        elif kind == "exception":
            events.append(Event("exception", number, text, "f", depth, value=draw(VALUE)))
        else:
            state = stack[-1]
            for name in list(state):
                action = draw(st.sampled_from(["keep", "keep", "change", "drop"]))
                if action == "change":
                    state[name] = draw(VALUE)
                elif action == "drop":
                    del state[name]
            if draw(st.booleans()):
                state[draw(IDENT)] = draw(VALUE)
            events.append(Event("line", number, text, "f", depth, dict(state)))
    return Trace(Program("p", source), events)


def fields(events: list[Event]) -> list[tuple]:
    return [(e.kind, e.source_line, e.locals, e.value, e.depth) for e in events]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces())
@example(  # a line that is a lone "\r" is not the empty line before it (found by hypothesis)
    Trace(
        Program("p", "\n\r"),
        [Event("call", 1, "", "f", 0, {}), Event("line", 1, "", "f", 0, {})],
    )
)
def test_render_parse_render_is_identity(trace: Trace) -> None:
    text = render_cwm(trace)
    result = parse_cwm(text)
    assert result.valid and result.complete, result.errors
    assert fields(result.events) == fields(trace.events)
    assert result.events[0].line == trace.events[0].line
    lines = result.source.split("\n")
    for event in result.events:
        assert event.line > 0 and lines[event.line - 1] == event.source_line
    again = Trace(Program("p", result.source), result.events)
    assert render_cwm(again) == text
    body = render_cwm(trace, context=False)
    assert render_cwm_events(parse_cwm(body).events) == body


TOKENS = st.sampled_from(
    [*SPECIAL_TOKENS, "{", "}", '"', '"..', ": ", ", ", "\n", "x", "null", "\\", "[", "1", "<|", "|>"]
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.lists(TOKENS, max_size=30).map("".join)))
def test_parse_never_raises_on_garbage(text: str) -> None:
    result = parse_cwm(text)
    assert isinstance(result, ParseResult)
    assert all(isinstance(e, FrameError) for e in result.errors)
    assert len(result.events) == len(result.event_frames)
    assert all(-1 <= e.frame < max(result.frames, 1) for e in result.errors)


@settings(max_examples=200, deadline=None)
@given(traces(), st.data())
def test_parse_never_raises_on_spliced_renderings(trace: Trace, data) -> None:
    text = render_cwm(trace)
    at = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.one_of(st.text(max_size=8), TOKENS))
    cut = data.draw(st.integers(0, len(text)))
    for variant in (text[:at] + junk + text[at:], text[:at] + text[cut:]):
        result = parse_cwm(variant)
        assert len(result.events) == len(result.event_frames)


@pytest.mark.parametrize("make", [trace_fg, trace_hk])
def test_every_truncation_reads_a_prefix(make) -> None:
    trace = make()
    text = render_cwm(trace)
    want = fields(trace.events)
    for end in range(len(text) + 1):
        result = parse_cwm(text[:end])
        got = fields(result.events)
        # every frame but a cut-off last one reads back exactly, and only the last can be wrong
        assert got[: max(len(got) - 1, 0)] == want[: max(len(got) - 1, 0)]
        last = result.frames - 1
        assert all(e.frame in (-1, last) for e in result.errors), (end, result.errors)
        if got:
            assert result.event_frames == list(range(len(got)))
            assert got[-1][0] == want[len(got) - 1][0]  # kind
            assert got[-1][4] == want[len(got) - 1][4]  # depth
