"""PowerShell text: quoting values from Azure, and a small tokenizer that finds statement boundaries
and parameters (enough for the remediation script generator and for checking its structure without
pwsh).

PowerShell treats the typographic quotes ‘ ’ ‚ ‛ exactly like ' (and “ ” „ like "), so a value is
safe inside single quotes only when every one of them is doubled, not just the ASCII quote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
DOUBLE_QUOTES = '"\u201c\u201d\u201e'
NEWLINES = "\r\n\u0085\u2028\u2029"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def ps_quote(value: object) -> str:
    """A PowerShell single-quoted string literal holding exactly `value`."""
    text = str(value)
    for quote in SINGLE_QUOTES:
        text = text.replace(quote, quote + quote)
    return "'" + text + "'"


def one_line(value: object) -> str:
    """Text for a comment line: control characters and line breaks become '?', so nothing after them
    can become code (in bash or PowerShell)."""
    return _CONTROL.sub("?", str(value).replace("\r", "?").replace("\n", "?"))


class TokenError(ValueError):
    pass


@dataclass
class Token:
    kind: str    # word | string | variable | operator | open | close | comment | newline | parameter
    text: str
    line: int
    pos: int     # offset of the token in the source


def tokenize(source: str) -> list[Token]:
    """Split PowerShell source into tokens. Raises TokenError for an unterminated string or block
    comment, or a closing bracket that does not match the opening one."""
    tokens: list[Token] = []
    stack: list[tuple[str, int]] = []
    pairs = {")": "(", "}": "{", "]": "["}
    i, line, n = 0, 1, len(source)
    while i < n:
        c = source[i]
        if c in NEWLINES:
            width = 2 if c == "\r" and source[i + 1:i + 2] == "\n" else 1
            tokens.append(Token("newline", source[i:i + width], line, i))
            line += 1
            i += width
        elif c in " \t\f\v":
            i += 1
        elif c == "`" and i + 1 < n:  # escape / line continuation
            if source[i + 1] in NEWLINES:
                line += 1
            i += 2
        elif c == "<" and source.startswith("<#", i):
            end = source.find("#>", i + 2)
            if end < 0:
                raise TokenError(f"line {line}: block comment <# is never closed")
            text = source[i:end + 2]
            tokens.append(Token("comment", text, line, i))
            line += sum(text.count(ch) for ch in "\n")
            i = end + 2
        elif c == "#":
            j = i
            while j < n and source[j] not in NEWLINES:
                j += 1
            tokens.append(Token("comment", source[i:j], line, i))
            i = j
        elif c == "@" and i + 1 < n and source[i + 1] in SINGLE_QUOTES + DOUBLE_QUOTES and \
                source[i + 2:i + 3] in ("\n", "\r"):
            quote = "'" if source[i + 1] in SINGLE_QUOTES else '"'
            match = re.compile(r"[\r\n][" + (SINGLE_QUOTES if quote == "'" else DOUBLE_QUOTES) + "]@").search(source, i + 2)
            if not match:
                raise TokenError(f"line {line}: here-string @{quote} is never closed")
            text = source[i:match.end()]
            tokens.append(Token("string", text, line, i))
            line += text.count("\n")
            i = match.end()
        elif c in SINGLE_QUOTES:
            j = i + 1
            while True:
                if j >= n:
                    raise TokenError(f"line {line}: single-quoted string is never closed")
                if source[j] in SINGLE_QUOTES:
                    if j + 1 < n and source[j + 1] in SINGLE_QUOTES:
                        j += 2
                        continue
                    break
                j += 1
            text = source[i:j + 1]
            tokens.append(Token("string", text, line, i))
            line += sum(text.count(ch) for ch in "\n")
            i = j + 1
        elif c in DOUBLE_QUOTES:
            j = i + 1
            depth = 0
            while True:
                if j >= n:
                    raise TokenError(f"line {line}: double-quoted string is never closed")
                ch = source[j]
                if ch == "`":
                    j += 2
                    continue
                if ch == "$" and source[j + 1:j + 2] == "(":
                    depth += 1
                    j += 2
                    continue
                if ch == ")" and depth:
                    depth -= 1
                elif ch in DOUBLE_QUOTES and not depth:
                    if j + 1 < n and source[j + 1] in DOUBLE_QUOTES:
                        j += 2
                        continue
                    break
                j += 1
            text = source[i:j + 1]
            tokens.append(Token("string", text, line, i))
            line += text.count("\n")
            i = j + 1
        elif c in "({[" or (c in "@$" and source[i + 1:i + 2] in ("(", "{")):
            width = 1 if c in "({[" else 2
            opener = source[i + width - 1]
            stack.append((opener, line))
            tokens.append(Token("open", source[i:i + width], line, i))
            i += width
        elif c in ")}]":
            if not stack or stack[-1][0] != pairs[c]:
                raise TokenError(f"line {line}: {c!r} does not close {stack[-1][0] + ' from line ' + str(stack[-1][1]) if stack else 'anything'}")
            stack.pop()
            tokens.append(Token("close", c, line, i))
            i += 1
        elif c == "$":
            match = re.compile(r"\$(?:\{[^}]*\}|[A-Za-z_][\w:]*|[?^$_])").match(source, i)
            text = match.group(0) if match else "$"
            tokens.append(Token("variable", text, line, i))
            i += len(text)
        elif c in ";|,=!+*/%&<>." or (c == "-" and not re.match(r"-[A-Za-z]", source[i:i + 2])):
            tokens.append(Token("operator", c, line, i))
            i += 1
        elif c == "-":
            match = re.compile(r"-[A-Za-z][\w]*:?").match(source, i)
            tokens.append(Token("parameter", match.group(0), line, i))
            i += len(match.group(0))
        else:
            match = re.compile(r"[^\s(){}\[\];|,='\"`$\u2018\u2019\u201a\u201b\u201c\u201d\u201e#]+").match(source, i)
            text = match.group(0) if match else c
            tokens.append(Token("word", text, line, i))
            i += len(text)
    if stack:
        raise TokenError(f"line {stack[-1][1]}: {stack[-1][0]!r} is never closed")
    return tokens


def statements(source: str) -> list[str]:
    """Split source into logical statements: a newline ends a statement unless a bracket is open
    (multi-line strings and blocks stay whole). Comment-only lines are statements of their own."""
    result: list[str] = []
    depth = 0
    start = 0
    for token in tokenize(source):
        if token.kind == "open":
            depth += 1
        elif token.kind == "close":
            depth -= 1
        elif token.kind == "newline" and depth == 0:
            if source[start:token.pos].strip():
                result.append(source[start:token.pos])
            start = token.pos + len(token.text)
    if source[start:].strip():
        result.append(source[start:])
    return result


def unquote(text: str) -> str | None:
    """The value of a single-quoted literal or a bare word; None for anything computed."""
    if len(text) >= 2 and text[0] in SINGLE_QUOTES and text[-1] in SINGLE_QUOTES:
        inner = text[1:-1]
        for quote in SINGLE_QUOTES:
            inner = inner.replace(quote + quote, quote)
        return inner
    if re.fullmatch(r"[\w.:/-]+", text):
        return text
    return None


def parameters(statement: str) -> dict[str, str | None]:
    """`-Name 'value'` pairs of a simple cmdlet call (switches map to None; computed values too)."""
    tokens = [t for t in tokenize(statement) if t.kind not in ("newline", "comment")]
    result: dict[str, str | None] = {}
    for index, token in enumerate(tokens):
        if token.kind == "parameter":
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            value = None
            if following is not None and following.kind in ("string", "word"):
                value = unquote(following.text)
            result[token.text.lstrip("-").rstrip(":").lower()] = value
    return result


def command_name(statement: str) -> str | None:
    """The cmdlet a statement calls: `Verb-Noun ...`, `$x = Verb-Noun ...` or `(Verb-Noun ...).Prop`."""
    match = re.match(r"\s*(?:\$[\w.]+\s*=\s*)?\(?\s*([A-Za-z]+-[A-Za-z]\w*)", statement)
    return match.group(1) if match else None
