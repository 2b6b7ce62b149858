"""Annotation value syntax read as Go reads it: encoding/csv records, ParseBool, ParseInt."""

from __future__ import annotations

import pytest

from certmgr.controllers.ingressshim.values import parse_bool, parse_int, split_csv, split_list


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("Acme", ("Acme",)),
        ("Acme,Example", ("Acme", "Example")),
        ('"Example, Inc.",Acme', ("Example, Inc.", "Acme")),
        ('"say ""hi"""', ('say "hi"',)),
        ('""', ("",)),
        ("a,", ("a", "")),
        (",", ("", "")),
        (" a , b", (" a ", " b")),
        ('"multi\nline"', ("multi\nline",)),
    ],
    ids=[
        "one",
        "two",
        "quoted-comma",
        "escaped-quote",
        "empty-quoted",
        "trailing-comma",
        "only-comma",
        "spaces-kept",
        "newline-in-quotes",
    ],
)
def test_split_csv_reads_one_go_csv_record(text: str, fields: tuple[str, ...]) -> None:
    assert split_csv(text) == fields


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty value"),
        ('a"b', 'bare " in non-quoted-field'),
        (' "a"', 'bare " in non-quoted-field'),
        ('"open', 'extraneous or missing " in quoted-field'),
        ('"a"b', 'extraneous or missing " in quoted-field'),
        ('invalid csv",', 'bare " in non-quoted-field'),
        ("a\nb", "line break outside a quoted field"),
    ],
    ids=[
        "empty",
        "bare-quote",
        "space-before-quote",
        "unterminated",
        "text-after-quote",
        "cert-manager-example",
        "line-break",
    ],
)
def test_split_csv_refuses_what_go_refuses(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        split_csv(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("t", True),
        ("1", True),
        ("false", False),
        ("F", False),
        ("0", False),
    ],
    ids=["true", "True", "TRUE", "t", "1", "false", "F", "0"],
)
def test_parse_bool_accepts_go_spellings(text: str, value: bool) -> None:
    assert parse_bool(text) is value


@pytest.mark.parametrize(
    "text", ["yes", "on", "tRue", "", " true"], ids=["yes", "on", "tRue", "empty", "space"]
)
def test_parse_bool_refuses_other_words(text: str) -> None:
    with pytest.raises(ValueError, match="invalid syntax"):
        parse_bool(text)


@pytest.mark.parametrize(
    ("text", "bits", "value"),
    [("7", 64, 7), ("+7", 64, 7), ("-7", 64, -7), ("007", 64, 7), ("2147483647", 32, 2**31 - 1)],
    ids=["plain", "plus", "minus", "leading-zeros", "int32-max"],
)
def test_parse_int_accepts_go_integers(text: str, bits: int, value: int) -> None:
    assert parse_int(text, bits=bits) == value


@pytest.mark.parametrize(
    ("text", "bits", "problem"),
    [
        ("1_000", 64, "invalid syntax"),
        (" 7", 64, "invalid syntax"),
        ("7.0", 64, "invalid syntax"),
        ("", 64, "invalid syntax"),
        ("2147483648", 32, "out of range"),
    ],
    ids=["underscore", "space", "decimal", "empty", "int32-overflow"],
)
def test_parse_int_refuses_what_go_refuses(text: str, bits: int, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_int(text, bits=bits)


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("a.example.com", ("a.example.com",)),
        ("a.example.com, b.example.com", ("a.example.com", "b.example.com")),
    ],
    ids=["one", "trimmed"],
)
def test_split_list_trims(text: str, items: tuple[str, ...]) -> None:
    assert split_list(text) == items


@pytest.mark.parametrize(
    "text", ["", "a,,b", "a,"], ids=["empty", "double-comma", "trailing-comma"]
)
def test_split_list_refuses_empty_entries(text: str) -> None:
    with pytest.raises(ValueError, match="empty entry"):
        split_list(text)
