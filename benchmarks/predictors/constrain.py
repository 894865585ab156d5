"""Constrained decoding for ``hf`` (``--constrain``): every generated frame is well formed.

A logits processor walks each row's new tokens through the CWM frame grammar
and masks every token that would break it:

- a frame starts with a kind token (or the text ends with end-of-text);
- a call/line frame's locals are a JSON object in ``json.dumps``'s form,
  ``{"name": "value", ...}``, each key a variable's name (once), whose ``".."`` values refer only to names the
  reader knows (the scope CWM's debugger resolves: reset by a call, emptied
  by a return); a return/exception frame has none;
- the action is one of the program's lines, token for token as the encoder
  writes it (a trie of the lines' ids), then ``\\n``;
- a return/exception frame's value is a JSON string or ``null``.

Text positions (locals, values) are checked by running the candidate tokens'
text through a small automaton; the ``top_k`` likeliest candidates are tried
first, and the whole vocabulary only when none of them fits. A trace cut by
the token limit can still end inside a frame: everything before it is valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tracer.cwm_tokens import SAME

NEG = float("-inf")


def _is_name(key: str) -> bool:
    """Whether ``key`` (as written between the quotes, escapes and all) is a variable's name."""
    import json

    try:
        return bool(json.loads(f'"{key}"').isidentifier())
    except ValueError:
        return False


@dataclass
class _Json:
    """Where a text position is in ``{"k": "v", ...}`` (``kind="locals"``) or ``"v"`` / ``null``."""

    kind: str
    state: int = 0
    buf: str = ""  # the key or value being read
    key: str = ""
    keys: list[str] = field(default_factory=list)

    def copy(self) -> _Json:
        return _Json(self.kind, self.state, self.buf, self.key, list(self.keys))

    def feed(self, text: str, scope: set[str]) -> bool:
        """Advance over ``text``; False as soon as it leaves the grammar."""
        return all(self._char(c, scope) for c in text)

    def _escape(self, c: str, back: int) -> bool:
        """After a backslash: one of JSON's escapes, or ``u`` and four hex digits."""
        if c in '"\\/bfnrt':
            self.state = back
            return True
        if c == "u":
            self.state = {1: 30, 2: 40, 7: 50}[back]
            return True
        return False

    def _hex(self, c: str, back: int) -> bool:
        if c not in "0123456789abcdefABCDEF":
            return False
        first = {1: 30, 2: 40, 7: 50}[back]
        self.state = back if self.state == first + 3 else self.state + 1
        return True

    @property
    def done(self) -> bool:
        return self.state == 99

    def _char(self, c: str, scope: set[str]) -> bool:
        s = self.state
        if self.kind == "value":
            if s == 0:
                self.state = 1 if c == '"' else 20 if c == "n" else -1
            elif s == 1:  # in the string
                if c == "\\":
                    self.state = 2
                elif c == '"':
                    self.state = 99
                elif ord(c) < 0x20:
                    return False
            elif s == 2:  # an escape
                return self._escape(c, back=1)
            elif 30 <= s <= 33:  # \uXXXX
                return self._hex(c, back=1)
            elif 20 <= s <= 22:  # null
                if c != "ull"[s - 20]:
                    return False
                self.state = s + 1 if s < 22 else 99
            else:
                return False
            return self.state >= 0
        # locals: {"k": "v", "k2": "v2"}
        if s == 0:
            ok, self.state = c == "{", 1
        elif s == 1:
            ok = c in '"}'
            self.state = 2 if c == '"' else 99
        elif s in (2, 7):  # in a key (2) or a value (7)
            if c == "\\":
                self.state = s + 1
            elif c == '"':
                if s == 2:
                    if not _is_name(self.buf) or self.buf in self.keys:
                        return False  # a key is a variable's name, once per frame
                    self.key, self.state = self.buf, 4
                else:
                    if self.buf == SAME and self.key not in scope:
                        return False
                    self.keys.append(self.key)
                    self.state = 9
                self.buf = ""
            elif ord(c) < 0x20 or (s == 2 and not (c.isalnum() or c == "_" or ord(c) > 0x7F)):
                return False  # no name holds it (a name's non-ASCII letters come as \\u escapes)
            else:
                self.buf += c
            ok = True
        elif s in (3, 8):  # an escape, back in the key (2) or the value (7)
            self.buf += "\\" + c
            return self._escape(c, back=s - 1)
        elif 40 <= s <= 43 or 50 <= s <= 53:  # \uXXXX in a key (4x) or a value (5x)
            self.buf += c
            return self._hex(c, back=2 if s < 50 else 7)
        elif s == 4:
            ok, self.state = c == ":", 5
        elif s == 5:
            ok, self.state = c == " ", 6
        elif s == 6:
            ok, self.state = c == '"', 7
        elif s == 9:
            ok = c in ",}"
            self.state = 10 if c == "," else 99
        elif s == 10:
            ok, self.state = c == " ", 11
        elif s == 11:
            ok, self.state = c == '"', 2
        else:
            ok = False
        return ok


@dataclass
class _Row:
    phase: str = "kind"  # kind, text (locals or value), action, after_action, end
    kind: str = ""
    json: _Json | None = None
    node: dict[int, Any] | None = None  # where in the lines' trie the action is
    scope: set[str] = field(default_factory=set)


class FrameGrammar:
    """The grammar's state for one batch of prompts, each ending with its call frame (whose
    locals open the scope); :func:`processor` makes it a ``transformers`` logits processor.
    ``token_texts[i]`` is token ``i``'s text (:func:`token_texts`)."""

    def __init__(
        self,
        encoder: Any,
        token_texts: list[str],
        lines: list[list[str]],
        scopes: list[set[str]],
        top_k: int = 64,
    ) -> None:
        tokenizer = encoder.tokenizer
        self.e = encoder
        self.top_k = top_k
        self.kinds = {encoder.kind[k]: k for k in encoder.kind}
        self.text = token_texts
        self.special = (
            set(tokenizer.all_special_ids)
            | set(self.kinds)
            | {
                encoder.frame_sep,
                encoder.action_sep,
                encoder.arg_sep,
                encoder.context_start,
            }
        )
        self.tries = [self._trie(encoder, program_lines) for program_lines in lines]
        self.rows = [_Row(scope=set(scope)) for scope in scopes]
        self.started = False

    @staticmethod
    def _trie(encoder: Any, lines: list[str]) -> dict[int, Any]:
        root: dict[int, Any] = {}
        for ids in encoder.texts([line + "\n" for line in lines if line.strip()]):
            node = root
            for token in ids:
                node = node.setdefault(token, {})
            node[-1] = {}  # the end of a line
        return root

    # -- following each row -------------------------------------------------------------
    def _advance(self, row: _Row, trie: dict[int, Any], token: int) -> None:
        e = self.e
        if row.phase == "kind":
            if token in self.kinds:
                row.kind = self.kinds[token]
                if row.kind in ("call", "line"):
                    row.phase, row.json = "text", _Json("locals")
                else:
                    row.phase = "action_sep"
            else:
                row.phase = "end"
        elif row.phase == "text":
            if token in (e.action_sep, e.frame_sep):
                if row.kind in ("call", "line") and row.json is not None:
                    keys = set(row.json.keys)
                    row.scope = keys if row.kind == "call" else row.scope | keys
                    row.phase, row.node = "action", trie
                else:
                    row.phase = "kind"
                    if row.kind == "return":
                        row.scope = set()
                row.json = None
            elif row.json is not None:
                row.json.feed(self.text[token], row.scope)
        elif row.phase == "action_sep":
            row.phase, row.node = "action", trie
        elif row.phase == "action" and token in (e.frame_sep, e.arg_sep):  # a line that ends where another goes on
            row.phase = "after_action"
            self._advance(row, trie, token)
        elif row.phase == "action":
            assert row.node is not None
            row.node = row.node.get(token, {})
            if -1 in row.node and len(row.node) == 1:
                row.phase = "after_action"
        elif row.phase == "after_action":
            if token == e.arg_sep:
                row.phase, row.json = "text", _Json("value")
            else:
                row.phase = "kind"

    def _allowed_fixed(self, row: _Row) -> list[int] | None:
        """The allowed tokens where they are a fixed set (None: a text position, checked by candidate)."""
        e = self.e
        if row.phase == "kind":
            return [*self.kinds, e.eos]
        if row.phase == "action_sep":
            return [e.action_sep]
        if row.phase == "action":
            assert row.node is not None
            ids = [t for t in row.node if t != -1]
            if -1 in row.node:  # a whole line so far: it may also end here
                ids.append(e.frame_sep if row.kind in ("call", "line") else e.arg_sep)
            return ids or [e.frame_sep]
        if row.phase == "after_action":
            return [e.frame_sep if row.kind in ("call", "line") else e.arg_sep]
        if row.phase == "end":
            return [e.eos]
        return None

    def _fits(self, row: _Row, token: int) -> bool:
        assert row.json is not None
        if token in self.special:
            closing = self.e.action_sep if row.json.kind == "locals" else self.e.frame_sep
            return token == closing and row.json.done
        probe = row.json.copy()
        return probe.feed(self.text[token], row.scope) and bool(self.text[token])

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if self.started:
            for row, trie, token in zip(self.rows, self.tries, input_ids[:, -1].tolist(), strict=True):
                self._advance(row, trie, token)
        self.started = True
        mask = torch.full_like(scores, NEG)
        for r, row in enumerate(self.rows):
            fixed = self._allowed_fixed(row)
            if fixed is not None:
                allowed = fixed
            else:
                order = torch.argsort(scores[r], descending=True).tolist()
                allowed = [t for t in order[: self.top_k] if self._fits(row, t)]
                if not allowed:
                    allowed = [t for t in order[self.top_k :] if self._fits(row, t)][:1] or [self.e.eos]
            mask[r, allowed] = 0.0
        return scores + mask


def token_texts(tokenizer: Any) -> list[str]:
    """Each token's text, decoded alone (worked out once per tokenizer)."""
    return [tokenizer.decode([i], skip_special_tokens=False) for i in range(len(tokenizer))]


def processor(grammar: FrameGrammar) -> Any:
    """``grammar`` as a ``LogitsProcessorList`` entry."""
    from transformers import LogitsProcessor

    class _Processor(LogitsProcessor):  # type: ignore[misc]
        def __call__(self, input_ids: Any, scores: Any) -> Any:
            return grammar(input_ids, scores)

    return _Processor()


__all__ = ["FrameGrammar", "processor", "token_texts"]
