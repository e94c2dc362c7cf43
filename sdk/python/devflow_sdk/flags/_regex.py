"""Regex filters, restricted to the syntax on which Python's ``re`` and the flags service's Rust
engine agree (as PostHog's local evaluation restricts them).

A pattern is scanned once when the flag set is compiled. Constructs the two engines treat
differently (word boundaries, look-arounds, nested classes, set operations, shorthand classes as
range ends, nested repetition, possessive-looking quantifiers, non-ASCII escapes...) make the
filter "deferred": local evaluation is inconclusive. ``$`` is rewritten to ``\\Z`` (Rust's ``$``
does not match before a final newline). Patterns neither engine accepts never match. Some subject
strings are also deferred at match time (see :meth:`Pattern.check_subject`).
"""

from __future__ import annotations

import re
from typing import Final

_REPETITION: Final = re.compile(r"\{([0-9]+)(?:,([0-9]*))?\}")
_SIMPLE_ESCAPES: Final = "dDsSwWbfnrt"
_CLASS_ESCAPABLE: Final = "\\-[]^.$*+?(){}|"
_SHORTHANDS: Final = (r"\d", r"\D", r"\s", r"\S", r"\w", r"\W")
# Tokens after which a quantifier has nothing to repeat (or would nest).
_NO_REPEAT_AFTER: Final = ("", "|", "(", "^", "$", "empty group", "quantifier")
_NO_STAR_AFTER: Final = ("^", "$", "empty group")
_ASCII_FS_TO_US: Final = "\x1c\x1d\x1e\x1f"


class Deferred(Exception):  # a verdict, not a failure
    """The pattern (or subject) needs the flags service's own regex engine."""


class Pattern:
    """A compiled, shared-syntax regex and what the subject checks need to know about it."""

    __slots__ = ("end_anchor", "quantified", "regex", "space_class", "word_class")

    def __init__(self, source: str) -> None:
        scan = _Scanner(source)
        translated = scan.run()
        self.regex: re.Pattern[str] | None
        try:
            self.regex = re.compile(translated)
        except re.error:
            self.regex = None
        except Exception as exc:  # e.g. OverflowError, RecursionError
            raise Deferred(str(exc)) from exc
        self.word_class = scan.word_class
        self.space_class = scan.space_class
        self.end_anchor = scan.end_anchor
        self.quantified = scan.quantified

    def check_subject(self, subject: str) -> None:
        """Raise :class:`Deferred` for subjects on which the engines could disagree."""
        if self.end_anchor and self.quantified and subject.endswith("\n"):
            raise Deferred("strict end anchor before a final newline")
        if not subject.isascii():
            if any(0xD800 <= ord(c) <= 0xDFFF for c in subject):
                raise Deferred("surrogate in subject")
            if self.word_class and any(
                not c.isascii() and not (c.isalpha() or c.isdecimal()) for c in subject
            ):
                raise Deferred("word class over non-ASCII marks or numbers")
        if self.space_class and any(c in subject for c in _ASCII_FS_TO_US):
            raise Deferred("space class over ASCII separators")


class _Scanner:
    """One left-to-right pass: validates the pattern and produces the Python translation."""

    def __init__(self, source: str) -> None:
        self.src = source
        self.at = 0
        self.out: list[str] = []
        self.class_open: int | None = None  # index of the '[' of the class being read
        self.last = ""  # kind of the previous token, for quantifier checks
        self.groups: list[bool] = []  # per open group: does it contain a quantifier?
        self.closed_quantified = False  # did the group closed last contain one?
        self.word_class = False
        self.space_class = False
        self.end_anchor = False
        self.quantified = False

    def run(self) -> str:
        src = self.src
        while self.at < len(src):
            char = src[self.at]
            if 0xD800 <= ord(char) <= 0xDFFF:
                raise Deferred("surrogate in pattern")
            if self.class_open is None:
                self._track_groups(char)
            self._token(char)
            self.at += 1
        return "".join(self.out)

    def _track_groups(self, char: str) -> None:
        if char == "$":
            self.end_anchor = True
        if char in "*+?{|":
            self.quantified = True
        if char == "(":
            self.groups.append(False)
        elif char == ")":
            self.closed_quantified = self.groups.pop() if self.groups else False
            if self.groups:
                self.groups[-1] = self.groups[-1] or self.closed_quantified
        elif char in "*+?{":
            if self.last == ")" and self.closed_quantified:
                raise Deferred("repetition of a repeated group")
            if self.groups:
                self.groups[-1] = True

    def _token(self, char: str) -> None:
        if char == "\\":
            self._escape()
        elif char == "[":
            if self.class_open is not None:
                raise Deferred("nested character class")
            self.class_open = self.at
            self.out.append("[")
        elif self.class_open is not None:
            if char == "]":
                self._close_class()
            else:
                self._class_member(char)
        elif char == "(" and self.src[self.at + 1 : self.at + 2] == "?":
            if self.src[self.at + 2 : self.at + 3] != ":":
                raise Deferred("group flags and look-arounds")
            self.out.append("(?:")
            self.at += 2
            self.last = "("
        elif char == "{":
            self._repetition()
        elif char in "*+?":
            if self.last in _NO_STAR_AFTER or self.src[self.at + 1 : self.at + 2] in ("+", "{"):
                raise Deferred("quantifier the engines read differently")
            self.last = "quantifier"
            self.out.append(char)
        else:
            if char == ")" and self.last in ("(", "empty group"):
                self.last = "empty group"
            else:
                self.last = char
            self.out.append(r"\Z" if char == "$" else char)

    def _escape(self) -> None:
        self.at += 1
        if self.at == len(self.src):
            self.out.append("\\")  # a dangling backslash: the pattern will not compile
            return
        escaped = self.src[self.at]
        if escaped == "x":
            digits = self.src[self.at + 1 : self.at + 3]
            if len(digits) != 2 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise Deferred("short hex escape")
            self.out.append("\\x" + digits)
            self.at += 2
            self.last = "literal"
            return
        in_class = self.class_open is not None
        if escaped in "bB<>" and not in_class:
            raise Deferred("word boundary")
        if escaped not in _SIMPLE_ESCAPES:
            if not (0x20 <= ord(escaped) <= 0x7E and not escaped.isalnum()):
                raise Deferred("escape the engines read differently")
            if in_class and escaped not in _CLASS_ESCAPABLE:
                raise Deferred("escape inside a class")
        self.word_class = self.word_class or escaped in "wW"
        self.space_class = self.space_class or escaped in "sS"
        self.out.append("\\" + escaped)
        self.last = "literal"

    def _close_class(self) -> None:
        start = self.class_open
        assert start is not None
        first = start + (2 if self.src[start + 1 : start + 2] == "^" else 1)
        if self.at == first:
            raise Deferred("empty class")
        self.class_open = None
        self.last = "literal"
        self.out.append("]")

    def _class_member(self, char: str) -> None:
        src, at = self.src, self.at
        if src[at : at + 2] in ("&&", "--", "~~"):
            raise Deferred("class set operation")
        if char == "-" and at + 1 < len(src) and src[at + 1] != "]":
            after_shorthand = at >= 2 and src[at - 2] == "\\" and src[at - 1] in "dDsSwW"
            if src[at + 1 : at + 3] in _SHORTHANDS or after_shorthand:
                raise Deferred("shorthand class as a range end")
        self.out.append(char)

    def _repetition(self) -> None:
        match = _REPETITION.match(self.src, self.at)
        if match is None or self.last in _NO_REPEAT_AFTER:
            raise Deferred("repetition the engines read differently")
        if any(len(n) > 10 or int(n) > 0xFFFFFFFF for n in match.groups() if n):
            raise Deferred("repetition bound too large")
        self.out.append(match.group())
        self.at = match.end() - 1
        if self.src[self.at + 1 : self.at + 2] in ("+", "{"):
            raise Deferred("nested repetition")
        self.last = "quantifier"
