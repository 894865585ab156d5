"""The special tokens of Meta's Code World Model (CWM) trace format, and its markers.

The format itself (what :mod:`tracer.cwm_render` writes and :mod:`tracer.cwm_parse`
reads back)::

    <|trace_context_start|>{source, "  # << START_OF_TRACE" on the entry}<|frame_sep|>
    <|call_sep|>{locals}<|action_sep|>{source line}\\n<|frame_sep|>
    <|line_sep|>{locals}<|action_sep|>{source line}\\n<|frame_sep|>
    <|return_sep|><|action_sep|>{source line}\\n<|arg_sep|>{value}<|frame_sep|>
    <|exception_sep|><|action_sep|>{source line}\\n<|arg_sep|>{value}<|frame_sep|>

Standard library only: this module runs inside the sandbox too.
"""

from __future__ import annotations

from .contract import EventKind

# -- tokens ----------------------------------------------------------------------
CONTEXT_START = "<|trace_context_start|>"
FRAME_SEP = "<|frame_sep|>"
CALL_SEP = "<|call_sep|>"
LINE_SEP = "<|line_sep|>"
RETURN_SEP = "<|return_sep|>"
EXCEPTION_SEP = "<|exception_sep|>"
ACTION_SEP = "<|action_sep|>"
ARG_SEP = "<|arg_sep|>"

#: Every special token of the format, for adding to a tokenizer.
SPECIAL_TOKENS: tuple[str, ...] = (
    CONTEXT_START,
    FRAME_SEP,
    CALL_SEP,
    LINE_SEP,
    RETURN_SEP,
    EXCEPTION_SEP,
    ACTION_SEP,
    ARG_SEP,
)

#: The token that opens a frame of each event kind.
KIND_TOKENS: dict[str, str] = {
    "call": CALL_SEP,
    "line": LINE_SEP,
    "return": RETURN_SEP,
    "exception": EXCEPTION_SEP,
}
TOKEN_KINDS: dict[str, EventKind] = {
    CALL_SEP: "call",
    LINE_SEP: "line",
    RETURN_SEP: "return",
    EXCEPTION_SEP: "exception",
}

#: Appended to the entry line of the source in the context.
START_MARKER = "  # << START_OF_TRACE"
BARE_MARKER = "# << START_OF_TRACE"

#: What a line frame writes for a value the reader already knows.
SAME = ".."
