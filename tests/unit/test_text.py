import json
import time

import pytest

from deploycheck.text import cut, cut_value, one_line


def test_cut_keeps_short_text():
    assert cut("", 0) == "" and cut("abc", 3) == "abc" and cut("abc", 10) == "abc"


@pytest.mark.parametrize("limit", [30, 31, 50, 200, 999])
def test_cut_notes_the_full_size_within_the_limit(limit):
    text = "x" * 1000
    cut_text = cut(text, limit)
    assert len(cut_text) <= limit
    assert cut_text.startswith("x") and cut_text.endswith("… (1,000 characters in all)")


@pytest.mark.parametrize(("limit", "expected"), [(0, ""), (1, "…"), (5, "abcd…")])
def test_cut_without_room_for_the_note_marks_the_cut(limit, expected):
    assert cut("abcdefghijklmnopqrstuvwxyz" * 4, limit) == expected


def test_cut_rejects_a_negative_limit():
    with pytest.raises(ValueError, match="limit"):
        cut("abc", -1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("connection refused", "connection refused"),
        ("\n\n   first   line\t here \nsecond line", "first line here"),
        ("\r\n \r\nlast\u2028next", "last"),
        ("\x1b[31merror:\x1b[0m bad\x00 gateway", "error: bad gateway"),
        ("   \n\t\n", ""),
        ("<b>not a document</b>\nsecond", "<b>not a document</b>"),
        ("<html><head><title>502 Bad Gateway</title></head><body><h1>502</h1></body></html>", "502 Bad Gateway"),
        ("<!DOCTYPE html>\n<HTML><HEAD><TITLE>\n  Service\n Unavailable </TITLE>", "Service Unavailable"),
        ("<html><head><title>Tom &amp; Jerry", "Tom & Jerry"),
        (
            "<!DOCTYPE html><html><head><style>h1{}</style><script>var s = '<p>no</p>';</script></head>"
            "<body><!-- hidden -->\n\n<div><h1>Internal&nbsp;<b>Server</b> Error</h1><p>details</p></div></body>",
            "Internal Server Error",
        ),
        ("<html><title> </title><body><table><tr><td>code</td><td>500</td></tr></table>", "code 500"),
        ("<html><body>&nbsp;<br>&nbsp;<p>text after blanks", "text after blanks"),
    ],
)
def test_one_line(text, expected):
    assert one_line(text) == expected


def test_one_line_cuts_to_the_limit():
    reason = one_line("word " * 1000, limit=80)
    assert len(reason) <= 80 and reason.endswith("(4,999 characters in all)")
    assert len(one_line("<html><title>" + "t" * 500 + "</title>")) == 200


@pytest.mark.parametrize("value", [None, 1, 2.5, True, b"bytes", "short", [1, 2], {"a": 1}, ()])
def test_cut_value_keeps_small_values(value):
    assert cut_value(value, 40) == value


def test_cut_value_cuts_strings_and_long_json():
    assert cut_value("v" * 100, 40) == cut("v" * 100, 40)
    long_list = list(range(100))
    assert cut_value(long_list, 40) == cut(json.dumps(long_list), 40)
    cut_dict = cut_value({"key": "é" * 100}, 40)
    assert len(cut_dict) <= 40 and cut_dict.startswith('{"key": "éé') and "(111 characters in all)" in cut_dict
    assert cut_value((1, 2, 3) * 50, 40).endswith("characters in all)")


def test_cut_value_survives_odd_structures():
    loop: list[object] = [1]
    loop.append(loop)
    assert cut_value(loop, 10) == loop and cut_value([object()] * 20, 30).endswith("characters in all)")


MEGABYTE = 10**6
HOSTILE = {
    "plain": "x" * MEGABYTE,
    "blank lines": " \n" * (MEGABYTE // 2),
    "unclosed titles": "<html><title>" * (MEGABYTE // 13),
    "unclosed scripts": "<html><script" * (MEGABYTE // 13),
    "unclosed comments": "<html><!--" * (MEGABYTE // 10),
    "many tags": "<html>" + "<b>" * (MEGABYTE // 3),
    "unclosed tags": "<html " + "<a " * (MEGABYTE // 3),
    "blank entities": "<html><p>" + "&nbsp;\n" * (MEGABYTE // 7),
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_megabyte_makes_a_reason_in_well_under_a_second(text):
    started = time.perf_counter()
    reason = one_line(text)
    cut(text, 100)
    assert time.perf_counter() - started < 1
    assert len(reason) <= 200 and "\n" not in reason
