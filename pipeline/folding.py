"""Folding French text for matching: `fold`, `match_text` and `word_key` (re-exported by pipeline/text.py),
and `frequent_first`, the order to build an automaton of such keys in.

`str.translate` looks every character up in its table through a Python-level item access (about
45 ns a character: 80 µs for a 1.8 kB article, a third of the whole tagger's budget). Bytes are
translated in C at memory speed, so the text goes through Latin-1: the apostrophes, dashes and
narrow spaces of French typography are first replaced by their folded form; a text that still has
characters outside Latin-1 (« œ », « … », « € »…) gets them swapped for C1 control characters that
stand for them, swapped back after decoding. Every character stays one character, so offsets still
point into the original. Short strings (the few words before a place name) take `str.translate`.

The tables live here rather than in pipeline/text.py, which imports BeautifulSoup (a tenth of a
second the tagger does not need). The fast path gives exactly what `str.translate` over the tables
gives (`_slow_fold`, `_slow_words`; tests/test_folding.py): a text the fast path cannot carry (another
character outside Latin-1, or a C1 control character of its own where a stand-in is needed) takes
`str.translate`.
"""

from __future__ import annotations

import unicodedata


def _fold_table() -> dict[int, str]:
    table = {}
    for code in range(0x41, 0x250):
        char = chr(code)
        base = unicodedata.normalize("NFKD", char)[0].lower()
        if len(base) == 1 and base.isascii() and base != char:
            table[code] = base
    for char in "’‘ʼ`´":
        table[ord(char)] = "'"
    for char in "‐‑‒–—―":
        table[ord(char)] = "-"
    for char in "\u00a0\u202f\t\n\r":
        table[ord(char)] = " "
    table.update({ord("Œ"): "œ", ord("Æ"): "æ"})
    return table


_FOLD_TABLE = _fold_table()
_FOLD_SEQUENCE = "".join(_FOLD_TABLE.get(code, chr(code)) for code in range(0x2100))
_WORDS_SEQUENCE = "".join(c if c.isalnum() or c == "-" else " " for c in _FOLD_SEQUENCE)
SHORT = 24  # below this length, str.translate is faster than going through bytes (30 characters: 0.8 µs, 0.6)


def _slow_fold(text: str) -> str:
    return text.translate(_FOLD_SEQUENCE)


def _slow_words(text: str) -> str:
    return text.translate(_WORDS_SEQUENCE)


# Outside Latin-1 and converted to one ASCII character: replaced before encoding. The frequent ones
# are tried on every text, the rare ones only when the text does not encode.
_FREQUENT = "’–—\u202f…•"
_RARE = "‘ʼ‐‑‒―€“”„†‰™\u2009\u200b"
# Outside Latin-1, folded to themselves (or Œ to œ): each travels as a C1 control character.
_STAND_INS = {"œ": "\x9c", "Œ": "\x8c", "…": "\x85", "€": "\x80", "“": "\x93", "”": "\x94", "•": "\x95",
              "„": "\x84", "†": "\x86", "‰": "\x89", "™": "\x99", "\u2009": "\x81", "\u200b": "\x8d"}


def _table(convert, stand_ins: bool) -> bytes:
    """256 bytes: the converted form of each Latin-1 character; with `stand_ins`, a stand-in byte
    is converted as the character it stands for (to that result's stand-in when it has one)."""
    originals = {v: k for k, v in _STAND_INS.items()}
    table = bytearray(256)
    for code in range(256):
        char = chr(code)
        if stand_ins and char in originals:
            result = convert(originals[char])
            table[code] = ord(_STAND_INS.get(result, result))
        else:
            table[code] = ord(convert(char))
    return bytes(table)


def _words(char: str) -> str:
    return _slow_words(char)


def _direct(convert, chars: str) -> dict[str, str]:
    return {char: convert(char) for char in chars if convert(char).isascii()}


def _with_oe(table: bytes, convert) -> bytes:
    """`table` where œ's stand-in stays itself: « œ » folds to itself in both foldings."""
    assert convert("œ") == "œ"
    return table[:0x9c] + b"\x9c" + table[0x9d:]


_FOLD = (_direct(_slow_fold, _FREQUENT), _direct(_slow_fold, _RARE), _table(_slow_fold, False),
         _table(_slow_fold, True), _slow_fold, _with_oe(_table(_slow_fold, False), _slow_fold))
_WORDS = (_direct(_slow_words, _FREQUENT), _direct(_slow_words, _RARE), _table(_slow_words, False),
          _table(_slow_words, True), _slow_words, _with_oe(_table(_slow_words, False), _slow_words))
_OE = _STAND_INS["œ"]


def _convert(text: str, frequent: dict[str, str], rare: dict[str, str], plain: bytes, with_stand_ins: bytes,
             convert, with_oe: bytes) -> str | None:
    for char, converted in frequent.items():
        if char in text:
            text = text.replace(char, converted)
    if "œ" not in text:
        try:
            return text.encode("latin-1").translate(plain).decode("latin-1")
        except UnicodeEncodeError:
            pass
    elif _OE not in text:
        # « œ » (« œuvre », « cœur ») is French's one frequent letter outside Latin-1: a third of the
        # press's articles would take the long way below for it alone.
        try:
            return text.replace("œ", _OE).encode("latin-1").translate(with_oe).decode("latin-1").replace(_OE, "œ")
        except UnicodeEncodeError:
            pass
    for char, converted in rare.items():
        if char in text:
            text = text.replace(char, converted)
    if any(stand_in in text for stand_in in _STAND_INS.values()):
        return None  # a control character of its own would be read as a stand-in
    used = [(char, stand_in) for char, stand_in in _STAND_INS.items() if char in text]
    for char, stand_in in used:
        text = text.replace(char, stand_in)
    try:
        result = text.encode("latin-1").translate(with_stand_ins).decode("latin-1")
    except UnicodeEncodeError:
        return None
    for char, stand_in in used:
        result_char = convert(char)
        if result_char in _STAND_INS:
            result = result.replace(_STAND_INS[result_char], result_char)
    return result


def fold(text: str) -> str:
    """Lower case without accents, apostrophes and dashes unified, one space for
    any blank; the same length as `text`."""
    if len(text) < SHORT:
        return text.translate(_FOLD_SEQUENCE)
    result = _convert(text, *_FOLD)
    return text.translate(_FOLD_SEQUENCE) if result is None else result


def match_text(text: str) -> str:
    """The folded text with every character that is neither a letter, a
    digit nor a hyphen made a space, between two spaces."""
    if len(text) < SHORT:
        return f" {text.translate(_WORDS_SEQUENCE)} "
    result = _convert(text, *_WORDS)
    return f" {text.translate(_WORDS_SEQUENCE)} " if result is None else f" {result} "


# Characters of folded French, the most frequent first (measured on the press corpus), each made the
# character of its rank (ASCII to ASCII: str.translate's fast path, 24,000 keys sorted in 15 ms).
_FREQUENT_FIRST = {ord(char): chr(0x20 + rank) for rank, char in enumerate(" esianrtoludcpmvfgbqh02jx-1y3546798zkw")}


def frequent_first(key: str) -> str:
    """A sort key for an automaton's keys: pyahocorasick looks a node's children up one by one, in
    the order they were added, so keys added in this order (the frequent characters first) make the
    scan of a text about a tenth faster."""
    return key.translate(_FREQUENT_FIRST)


def word_key(words: str, prefix: bool = False, folded: bool = False) -> str:
    """The automaton key of a word or phrase, " mot " (or " mot" for a prefix); `folded` when `words`
    is already folded (`fold` gives its own result back)."""
    key = " " + " ".join((words if folded else fold(words)).translate(_WORDS_SEQUENCE).split())
    return key if prefix else key + " "
