"""FetchOptions: defaults, validation that names the flag, and normalization."""

from __future__ import annotations

import dataclasses

import pytest

from fetchcli.options import (
    DEFAULT_BACKOFF,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_REDIRECTS,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_METHOD,
    DEFAULT_RETRIES,
    DEFAULT_SCHEME,
    DEFAULT_TIMEOUT,
    DEFAULT_USER_AGENT,
    FetchOptions,
    Mode,
    Order,
    parse_accept,
)

# --- defaults ---------------------------------------------------------------


def test_defaults_equal_the_default_constants() -> None:
    options = FetchOptions()
    assert options.schedule.concurrency == DEFAULT_CONCURRENCY
    assert options.request.timeout == DEFAULT_TIMEOUT
    assert options.request.retries == DEFAULT_RETRIES
    assert options.request.backoff == DEFAULT_BACKOFF
    assert options.request.max_retry_after == DEFAULT_MAX_RETRY_AFTER
    assert options.request.method == DEFAULT_METHOD
    assert options.request.max_redirects == DEFAULT_MAX_REDIRECTS
    assert options.request.max_body == DEFAULT_MAX_BODY
    assert options.rules.default_scheme == DEFAULT_SCHEME
    assert options.request.user_agent == DEFAULT_USER_AGENT


def test_defaults_match_the_spec_table() -> None:
    options = FetchOptions()
    assert options.schedule.concurrency == 50
    assert options.request.timeout == 10
    assert options.request.retries == 2
    assert options.request.backoff == 0.5
    assert options.request.max_retry_after == 60
    assert options.request.method == "GET"
    assert options.request.max_redirects == 10
    assert options.request.max_body == 50 * 1024 * 1024
    assert options.rules.default_scheme == "https"
    assert options.request.user_agent.startswith("fetchcli/")
    assert options.request.follow is True
    assert options.schedule.per_host == 0
    assert options.schedule.rate == 0


def test_default_mode_is_queue_and_order_is_completion() -> None:
    options = FetchOptions()
    assert options.schedule.mode is Mode.QUEUE
    assert options.schedule.order is Order.COMPLETION


def test_default_accept_is_200_to_299() -> None:
    assert FetchOptions().request.accept == frozenset(range(200, 300))


def test_default_input_rules_are_off() -> None:
    options = FetchOptions()
    assert options.rules.unique is False
    assert options.rules.extract is False
    assert options.rules.shard is None
    assert options.rules.include == ()
    assert options.rules.exclude == ()
    assert options.request.headers == ()


def test_connect_timeout_defaults_to_timeout() -> None:
    assert FetchOptions(timeout=3.0).request.attempt_connect_timeout == 3.0


def test_connect_timeout_overrides_timeout_when_given() -> None:
    assert FetchOptions(timeout=3.0, connect_timeout=1.5).request.attempt_connect_timeout == 1.5


# --- invalid values name the flag ------------------------------------------


@pytest.mark.parametrize("value", [0, 10001, -1])
def test_concurrency_out_of_range_names_the_flag(value: int) -> None:
    with pytest.raises(ValueError, match="--concurrency"):
        FetchOptions(concurrency=value)


@pytest.mark.parametrize("value", [1, 10000])
def test_concurrency_at_the_limits_is_accepted(value: int) -> None:
    assert FetchOptions(concurrency=value).schedule.concurrency == value


def test_concurrency_given_as_bool_is_rejected() -> None:
    with pytest.raises(ValueError, match="--concurrency"):
        FetchOptions(concurrency=True)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, 0.0, -1.0, float("nan")])
def test_timeout_not_positive_names_the_flag(value: float) -> None:
    with pytest.raises(ValueError, match="--timeout"):
        FetchOptions(timeout=value)


def test_connect_timeout_zero_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--connect-timeout"):
        FetchOptions(connect_timeout=0)


def test_negative_retries_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--retries"):
        FetchOptions(retries=-1)


def test_negative_rate_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--rate"):
        FetchOptions(rate=-1)


def test_negative_per_host_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--per-host"):
        FetchOptions(per_host=-1)


def test_negative_max_body_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--max-body"):
        FetchOptions(max_body=-1)


def test_method_post_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--method"):
        FetchOptions(method="POST")


@pytest.mark.parametrize(("given", "expected"), [("get", "GET"), ("head", "HEAD")])
def test_method_is_upper_cased(given: str, expected: str) -> None:
    assert FetchOptions(method=given).request.method == expected


def test_method_head_get_with_space_is_accepted() -> None:
    assert FetchOptions(method="head, get").request.method == "HEAD,GET"


@pytest.mark.parametrize("value", ["abc", "600", "300-200", "", "99", "200-299,"])
def test_invalid_accept_names_the_flag(value: str) -> None:
    with pytest.raises(ValueError, match="--accept"):
        FetchOptions(accept=value)  # type: ignore[arg-type]


def test_header_without_colon_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--header"):
        FetchOptions(headers=("NoColon",))


def test_header_value_with_crlf_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--header"):
        FetchOptions(headers=("X-Test: a\r\nInjected: yes",))


def test_header_pair_value_with_newline_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--header"):
        FetchOptions(headers=(("X-Test", "a\nb"),))


def test_header_with_space_in_name_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--header"):
        FetchOptions(headers=("Bad Name: value",))


def test_header_with_empty_name_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--header"):
        FetchOptions(headers=(": value",))


def test_header_pair_with_colon_in_name_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--header"):
        FetchOptions(headers=(("Bad:Name", "value"),))


@pytest.mark.parametrize("value", ["0/3", "4/3", "x", "1", "1/0", "a/b", "-1/3"])
def test_invalid_shard_names_the_flag(value: str) -> None:
    with pytest.raises(ValueError, match="--shard"):
        FetchOptions(shard=value)  # type: ignore[arg-type]


def test_invalid_shard_tuple_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--shard"):
        FetchOptions(shard=(0, 3))


def test_include_with_invalid_regex_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--include"):
        FetchOptions(include=("(",))


def test_exclude_with_invalid_regex_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--exclude"):
        FetchOptions(exclude=("(",))


def test_default_scheme_ftp_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--default-scheme"):
        FetchOptions(default_scheme="ftp")


def test_default_scheme_is_lower_cased() -> None:
    assert FetchOptions(default_scheme="HTTP").rules.default_scheme == "http"


def test_unknown_mode_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--mode"):
        FetchOptions(mode="fast")  # type: ignore[arg-type]


def test_unknown_order_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--order"):
        FetchOptions(order="random")  # type: ignore[arg-type]


def test_user_agent_with_newline_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--user-agent"):
        FetchOptions(user_agent="ua\r\nX-Injected: 1")


def test_error_message_is_one_line() -> None:
    with pytest.raises(ValueError) as info:
        FetchOptions(concurrency=0)
    assert "\n" not in str(info.value)


# --- parsing and normalization ---------------------------------------------


def test_accept_list_with_range_and_code_gives_their_union() -> None:
    assert FetchOptions(accept="200-299,403").request.accept == frozenset({*range(200, 300), 403})  # type: ignore[arg-type]


def test_parse_accept_tolerates_spaces() -> None:
    assert parse_accept(" 200 , 301 - 302 ") == frozenset({200, 301, 302})


def test_parse_accept_single_code() -> None:
    assert parse_accept("204") == frozenset({204})


def test_accept_given_as_iterable_becomes_frozenset() -> None:
    options = FetchOptions(accept=[200, 404])  # type: ignore[arg-type]
    assert options.request.accept == frozenset({200, 404})
    assert isinstance(options.request.accept, frozenset)


@pytest.mark.parametrize(("given", "expected"), [("queue", Mode.QUEUE), ("gather", Mode.GATHER)])
def test_string_mode_becomes_enum(given: str, expected: Mode) -> None:
    mode = FetchOptions(mode=given).schedule.mode  # type: ignore[arg-type]
    assert mode is expected


def test_string_order_becomes_enum() -> None:
    assert FetchOptions(order="input").schedule.order is Order.INPUT  # type: ignore[arg-type]


def test_headers_as_strings_become_pairs() -> None:
    options = FetchOptions(headers=("X-A: 1", "Accept:  text/html "))  # type: ignore[arg-type]
    assert options.request.headers == (("X-A", "1"), ("Accept", "text/html"))


def test_headers_as_pairs_stay_pairs() -> None:
    options = FetchOptions(headers=(("X-A", "1"), ("X-B", "two words")))
    assert options.request.headers == (("X-A", "1"), ("X-B", "two words"))


def test_headers_as_dict_become_pairs() -> None:
    options = FetchOptions(headers={"X-A": "1", "X-B": "2"})  # type: ignore[arg-type]
    assert options.request.headers == (("X-A", "1"), ("X-B", "2"))


def test_header_value_may_contain_a_colon() -> None:
    options = FetchOptions(headers=("Referer: https://a.example/",))  # type: ignore[arg-type]
    assert options.request.headers == (("Referer", "https://a.example/"),)


def test_header_with_empty_value_is_accepted() -> None:
    options = FetchOptions(headers=("X-Empty:",))  # type: ignore[arg-type]
    assert options.request.headers == (("X-Empty", ""),)


def test_shard_string_becomes_tuple() -> None:
    assert FetchOptions(shard="2/5").rules.shard == (2, 5)  # type: ignore[arg-type]


def test_include_and_exclude_lists_become_tuples() -> None:
    options = FetchOptions(include=["a"], exclude=["b"])  # type: ignore[arg-type]
    assert options.rules.include == ("a",)
    assert options.rules.exclude == ("b",)


# --- frozen -----------------------------------------------------------------


def test_options_are_frozen() -> None:
    options = FetchOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.schedule.concurrency = 5  # type: ignore[misc]


def test_options_reject_unknown_attributes() -> None:
    options = FetchOptions()
    with pytest.raises((AttributeError, TypeError)):
        options.colour = "red"  # type: ignore[attr-defined]


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        FetchOptions(10)  # type: ignore[misc]


def test_replace_revalidates() -> None:
    with pytest.raises(ValueError, match="--concurrency"):
        dataclasses.replace(FetchOptions(), concurrency=0)
