"""Units in option values: durations, sizes (powers of 1024) and rates; formats that read back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fetchcli.units import (
    MAX_SIZE,
    format_duration,
    format_size,
    parse_duration,
    parse_rate,
    parse_size,
)

KIB, MIB, GIB, TIB = 1024, 1024**2, 1024**3, 1024**4
# Never a valid value of any kind: signs, non-numbers, empty, bad units.
NONSENSE = ["", "   ", "-5", "+5", "nan", "inf", "-inf", "abc", "5x", "s", "1e", "5 5", "1e999"]


# --- durations --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5", 5.0),
        ("0", 0.0),
        ("0.25", 0.25),
        (".5", 0.5),
        ("5s", 5.0),
        ("500ms", 0.5),
        ("2m", 120.0),
        ("1.5h", 5400.0),
        ("1d", 86400.0),
        ("1e-3s", 0.001),
    ],
)
def test_parse_duration_reads_numbers_and_units(text: str, seconds: float) -> None:
    assert parse_duration(text, "--timeout") == seconds


@pytest.mark.parametrize("text", ["5S", "500MS", "500Ms", "2M", "1H", "1D"])
def test_duration_units_are_case_insensitive(text: str) -> None:
    assert parse_duration(text, "--timeout") == parse_duration(text.lower(), "--timeout")


@pytest.mark.parametrize("text", [" 5s", "5s ", "\t5s\n", "5 s"])
def test_duration_allows_whitespace_around(text: str) -> None:
    assert parse_duration(text, "--timeout") == 5.0


@pytest.mark.parametrize("text", [*NONSENSE, "5sec", "5min", "2w", "5s5", "٥s"])
def test_bad_duration_is_one_sentence_naming_the_flag(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text, "--timeout")
    message = str(info.value)
    assert message == (
        f"--timeout expects seconds or a duration such as 5s, 500ms, 2m (got {text!r})"
    )


# --- sizes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("1048576", MIB),
        ("512B", 512),
        ("512K", 512 * KIB),
        ("2G", 2 * GIB),
        ("1T", TIB),
        ("50MiB", 50 * MIB),
        ("1.5K", 1536),
        ("0.5M", 512 * KIB),
    ],
)
def test_parse_size_reads_numbers_and_units(text: str, size: int) -> None:
    assert parse_size(text, "--max-body") == size


@pytest.mark.parametrize("text", ["1M", "1m", "1MB", "1mb", "1Mb", "1MiB", "1mib", " 1 MiB "])
def test_every_way_of_writing_a_prefix_is_a_power_of_1024(text: str) -> None:
    # The curl convention: no decimal (1000) units, however the prefix is spelt.
    assert parse_size(text, "--max-body") == MIB


@pytest.mark.parametrize(("prefix", "factor"), [("K", KIB), ("M", MIB), ("G", GIB), ("T", TIB)])
def test_k_kb_and_kib_agree_for_each_prefix(prefix: str, factor: int) -> None:
    spellings = (prefix, prefix.lower(), f"{prefix}B", f"{prefix}iB")
    assert {parse_size(f"3{unit}", "--max-body") for unit in spellings} == {3 * factor}


def test_a_fraction_of_a_prefix_rounds_down_to_a_byte() -> None:
    assert parse_size("0.1K", "--max-body") == 102


@pytest.mark.parametrize("text", [*NONSENSE, "1.5", "1.5B", "1P", "1KiBs", "1kk", "1Kbit"])
def test_bad_size_is_one_sentence_naming_the_flag(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_size(text, "--max-body")
    assert str(info.value) == (
        f"--max-body expects bytes or a size such as 1048576, 512K, 50MiB (got {text!r})"
    )


@pytest.mark.parametrize("text", ["9223372036854775808", "8388608T", "1" + "0" * 5000])
def test_size_over_the_largest_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"^--max-body expects bytes"):
        parse_size(text, "--max-body")


def test_the_largest_size_is_accepted() -> None:
    assert parse_size(str(MAX_SIZE), "--max-body") == MAX_SIZE == 2**63 - 1
    assert parse_size("8388607T", "--max-body") == 8388607 * TIB


def test_size_ignores_lookalike_letters() -> None:
    with pytest.raises(ValueError, match="--max-body"):
        parse_size("1\u212a", "--max-body")  # KELVIN SIGN, which IGNORECASE folds to k


# --- rates ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("10", 10.0),
        ("0", 0.0),
        ("0.5", 0.5),
        ("10/s", 10.0),
        ("600/m", 10.0),
        ("3600/h", 1.0),
        ("86400/d", 1.0),
        (" 10 / S ", 10.0),
    ],
)
def test_parse_rate_reads_per_second_and_periods(text: str, rate: float) -> None:
    assert parse_rate(text, "--rate") == rate


@pytest.mark.parametrize("text", [*NONSENSE, "10/", "10/x", "/s", "10/ms", "10/5s", "10s"])
def test_bad_rate_is_one_sentence_naming_the_flag(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_rate(text, "--rate")
    message = str(info.value)
    assert message.startswith("--rate expects ") and message.endswith(f"(got {text!r})")
    assert "10/s" in message and "\n" not in message


# --- formatting -------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (10, "10s"),
        (10.0, "10s"),
        (1.5, "1.5s"),
        (90, "90s"),
        (120, "2m"),
        (5400, "90m"),
        (3600, "1h"),
        (86400, "1d"),
        (0.5, "500ms"),
        (0.057, "57ms"),
        (0.0001, "0.0001s"),
    ],
)
def test_format_duration_gives_the_shortest_exact_form(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0B"), (512, "512B"), (1536, "1536B"), (KIB, "1KiB"), (50 * MIB, "50MiB"), (TIB, "1TiB")],
)
def test_format_size_gives_the_largest_exact_binary_unit(size: int, text: str) -> None:
    assert format_size(size) == text


@pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf")])
def test_format_duration_refuses_what_parse_refuses(seconds: float) -> None:
    with pytest.raises(ValueError):
        format_duration(seconds)


@pytest.mark.parametrize("size", [-1, MAX_SIZE + 1])
def test_format_size_refuses_what_parse_refuses(size: int) -> None:
    with pytest.raises(ValueError):
        format_size(size)


@given(st.integers(min_value=0, max_value=MAX_SIZE))
def test_size_round_trips_exactly(size: int) -> None:
    assert parse_size(format_size(size), "--max-body") == size


@given(st.integers(min_value=0, max_value=2**20), st.sampled_from([1, KIB, MIB, GIB, TIB]))
def test_whole_units_round_trip_exactly(count: int, unit: int) -> None:
    assert parse_size(format_size(count * unit), "--max-body") == count * unit


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False))
def test_duration_round_trips_closely(seconds: float) -> None:
    again = parse_duration(format_duration(seconds), "--timeout")
    assert again == pytest.approx(seconds, rel=1e-9, abs=1e-12)


@given(st.integers(min_value=0, max_value=10**9))
def test_whole_seconds_round_trip_exactly(seconds: int) -> None:
    assert parse_duration(format_duration(seconds), "--timeout") == seconds
