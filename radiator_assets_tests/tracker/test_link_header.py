"""`Link` header parsing: the changelog pager depends on it."""

from radiator_assets.tracker.link_header import find_link, next_url, parse_link_header

BASE = "https://api.tracker.yandex.net/v2/issues/CPO-1/changelog?perPage=50"


def test_next_link_with_id_as_last_parameter_is_returned_whole():
    url = "https://api.tracker.yandex.net/v2/issues/CPO-1/changelog?perPage=50&id=65f0a1"
    header = f'<{url}>; rel="next"'
    assert next_url(header, BASE) == (
        "https://api.tracker.yandex.net/v2/issues/CPO-1/changelog?perPage=50&id=65f0a1"
    )


def test_next_is_found_among_several_links():
    header = (
        '<https://h/v2/issues/X/changelog?perPage=50>; rel="first", '
        '<https://h/v2/issues/X/changelog?perPage=50&id=abc>; rel="next"'
    )
    assert find_link(header, "next") == "https://h/v2/issues/X/changelog?perPage=50&id=abc"
    assert find_link(header, "first") == "https://h/v2/issues/X/changelog?perPage=50"


def test_no_next_link_gives_none():
    assert next_url('<https://h/v2/issues/X/changelog?perPage=50>; rel="first"', BASE) is None


def test_empty_or_missing_header_gives_none():
    assert next_url(None, BASE) is None
    assert next_url("", BASE) is None


def test_relative_next_link_is_resolved_against_the_request_url():
    assert next_url('</v2/issues/CPO-1/changelog?id=9&perPage=50>; rel="next"', BASE) == (
        "https://api.tracker.yandex.net/v2/issues/CPO-1/changelog?id=9&perPage=50"
    )


def test_unquoted_and_upper_case_rel_is_recognised():
    assert find_link("<https://h/a?id=1>; REL=Next", "next") == "https://h/a?id=1"


def test_multi_valued_rel_matches_each_value():
    assert find_link('<https://h/a?id=2>; rel="last next"', "next") == "https://h/a?id=2"


def test_comma_inside_url_does_not_split_the_link():
    header = '<https://h/a?fields=a,b&id=3>; rel="next", <https://h/a>; rel="first"'
    links = parse_link_header(header)
    assert [link.url for link in links] == ["https://h/a?fields=a,b&id=3", "https://h/a"]


def test_extra_parameters_and_quoted_commas_are_parsed():
    header = '<https://h/a?id=4>; title="a, b; c"; rel="next"'
    (link,) = parse_link_header(header)
    assert link.params == {"title": "a, b; c", "rel": "next"}
    assert link.rels == {"next"}


def test_garbage_around_links_is_skipped():
    assert find_link('junk, <https://h/a?id=5>; rel="next"', "next") == "https://h/a?id=5"
