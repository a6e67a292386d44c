from typing import Any

import pytest

from threadline.engine.filters import MISSING, apply, to_text
from threadline.engine.placeholders import Kind, placeholder_at
from threadline.engine.templates import (
    UnresolvedPlaceholder,
    find_placeholders,
    make_resolver,
    render,
    render_value,
    resolve_placeholder,
)


def test_finds_every_kind_of_placeholder_in_order():
    text = "{{ clinic }} [[score]] {{global.api_key}} [[thread_labpoll.attempts]]"
    found = find_placeholders(text)
    assert [(p.kind, p.name, p.thread_id) for p in found] == [
        (Kind.DYNAMIC, "clinic", None),
        (Kind.RUNTIME, "score", None),
        (Kind.GLOBAL, "api_key", None),
        (Kind.THREAD, "attempts", "labpoll"),
    ]
    assert found[0].raw == "{{ clinic }}"
    assert text[found[1].start : found[1].end] == "[[score]]"


def test_dotted_and_indexed_paths_are_parsed():
    (p,) = find_placeholders("[[orders[1].items['sku'].name]]")
    assert p.path == ("orders", 1, "items", "sku", "name")
    assert p.name == "orders[1].items.sku.name"
    assert p.root == "orders"


def test_filters_and_default_are_parsed():
    (p,) = find_placeholders("{{ greeting | default: 'Hello, you' | upcase }}")
    assert [f.name for f in p.filters] == ["default", "upcase"]
    assert p.has_default
    assert p.default == "Hello, you"


def test_default_without_argument_is_empty_and_absent_default_is_missing():
    (with_default,) = find_placeholders("{{ x | default }}")
    (plain,) = find_placeholders("{{ x }}")
    assert with_default.default == ""
    (late,) = find_placeholders("{{ x | upcase | default: 'a' }}")
    assert late.default == "a"
    assert plain.default is MISSING
    assert not plain.has_default


def test_filter_arguments_are_typed_literals():
    (p,) = find_placeholders('{{ x | f: 3, 2.5, true, nil, bare, "q" }}')
    assert p.filters[0].args == (3, 2.5, True, None, "bare", "q")


@pytest.mark.parametrize(
    "text",
    [
        '{{"End Conversation<br/>"}}',
        "{{ ... }}",
        "[[ ]]",
        "{{ x | }}",
        "{{ x | join: }}",
        "{{ a..b }}",
        "{{ [0] }}",
        "{{ a. }}",
        "{{ a[0]b }}",
        "{{ x | 9bad }}",
    ],
)
def test_malformed_bodies_are_not_placeholders(text):
    assert find_placeholders(text) == []
    assert render(text, dynamic={"x": 1, "a": {"b": 1}}) == text


def test_thread_prefix_without_a_variable_is_a_plain_runtime_name():
    (p,) = find_placeholders("[[thread_result]]")
    assert p.kind is Kind.RUNTIME
    assert p.name == "thread_result"


def test_global_alone_is_a_dynamic_variable_named_global():
    (p,) = find_placeholders("{{global}}")
    assert p.kind is Kind.DYNAMIC


def test_placeholder_at_parses_only_at_the_exact_position():
    assert placeholder_at("ab [[x]]", 3) is not None
    assert placeholder_at("ab [[x]]", 0) is None


def test_render_substitutes_scalars_and_json_for_collections():
    text = "{{name}} is {{age}}; vip={{vip}}; note={{note}}; tags=[[tags]]; r=[[r]]"
    out = render(
        text,
        dynamic={"name": "Ana", "age": 41, "vip": True, "note": None},
        runtime={"tags": ["a", "b"], "r": {"k": 1}},
    )
    assert out == 'Ana is 41; vip=true; note=; tags=["a", "b"]; r={"k": 1}'


def test_unknown_placeholders_are_kept_by_default():
    assert render("Hi {{who}} [[what]]") == "Hi {{who}} [[what]]"


def test_missing_policy_empty_and_error():
    assert render("Hi {{who}}!", missing="empty") == "Hi !"
    with pytest.raises(UnresolvedPlaceholder):
        render("Hi {{who}}!", missing="error")


def test_default_filter_fills_missing_and_blank_values():
    template = "{{ a | default: 'x' }}-{{ b | default: 'y' }}-{{ c | default: 'z' }}"
    assert render(template, dynamic={"b": "", "c": "set"}) == "x-y-set"


def test_case_and_whitespace_filters():
    dynamic = {"s": "  hello World  "}
    assert render("{{ s | strip | upcase }}", dynamic=dynamic) == "HELLO WORLD"
    assert render("{{ s | downcase }}", dynamic=dynamic) == "  hello world  "
    assert render("{{ s | strip | capitalize }}", dynamic=dynamic) == "Hello world"
    assert render("[{{ s | lstrip }}|{{ s | rstrip }}]", dynamic=dynamic) == (
        "[hello World  |  hello World]"
    )


def test_collection_filters():
    dynamic = {"topics": ["flu", "covid"], "empty": []}
    assert render("{{ topics | join: ', ' }}", dynamic=dynamic) == "flu, covid"
    assert render("{{ topics | join }}", dynamic=dynamic) == "flu covid"
    assert render("{{ topics | size }}", dynamic=dynamic) == "2"
    assert render("{{ topics | first }}/{{ topics | last }}", dynamic=dynamic) == (
        "flu/covid"
    )
    assert render("{{ empty | first }}", dynamic=dynamic) == ""
    assert render("{{ topics | json }}", dynamic=dynamic) == '["flu", "covid"]'


def test_string_editing_filters():
    dynamic = {"s": "a-b-c"}
    assert render("{{ s | replace: '-', '+' }}", dynamic=dynamic) == "a+b+c"
    assert render("{{ s | remove: '-' }}", dynamic=dynamic) == "abc"
    assert render("{{ s | append: '!' | prepend: '>' }}", dynamic=dynamic) == ">a-b-c!"


def test_date_filter_formats_iso_strings_and_epochs():
    dynamic = {"iso": "2026-07-14T19:10:00", "epoch": 0, "bad": "soon", "obj": {}}
    assert render("{{ iso | date: '%B %d, %Y' }}", dynamic=dynamic) == "July 14, 2026"
    assert render("{{ epoch | date: '%Y' }}", dynamic=dynamic) == "1970"
    assert render("{{ bad | date: '%Y' }}", dynamic=dynamic) == "soon"
    assert render("{{ obj | date: '%Y' }}", dynamic=dynamic) == "{}"
    assert render("{{ iso | date }}", dynamic=dynamic) == "2026-07-14T19:10:00"


def test_filters_are_total_on_unsuitable_values():
    assert apply("join", "text", (",",)) == "text"
    assert apply("size", 5, ()) == 0
    assert apply("replace", "abc", ("a",)) == "abc"
    assert apply("remove", "abc", ()) == "abc"
    assert apply("no_such_filter", "v", ()) == "v"
    assert apply("upcase", MISSING, ()) is MISSING


def test_to_text_of_plain_objects_uses_str():
    assert to_text(2.5) == "2.5"
    assert to_text(MISSING) == ""
    assert repr(MISSING) == "MISSING"


def test_node_qualified_key_wins_over_traversal():
    runtime = {"Intake.full_name": "Bo", "Intake": {"full_name": "other"}}
    assert render("[[Intake.full_name]]", runtime=runtime) == "Bo"


def test_dotted_access_into_dict_valued_runtime_variable():
    runtime = {"assessment": {"urgency_level": "emergency"}}
    text = "[[assessment.urgency_level | upcase ]]"
    assert render(text, runtime=runtime) == "EMERGENCY"


def test_indexes_and_virtual_properties():
    dynamic = {"items": [{"name": "a"}, {"name": "b"}], "s": "xyz"}
    assert render("{{items[1].name}} {{items[-1].name}}", dynamic=dynamic) == "b b"
    text = "{{items.size}} {{s.first}} {{items.last.name}}"
    assert render(text, dynamic=dynamic) == "2 x b"
    assert render("{{items[5].name}} {{items.nope}}", dynamic=dynamic) == (
        "{{items[5].name}} {{items.nope}}"
    )


def test_thread_qualified_runtime_variables_read_the_named_thread():
    threads: dict[str, dict[str, Any]] = {
        "0": {"customer": "Ana"},
        "labpoll": {"attempts": 3},
    }
    text = "[[thread_0.customer]] [[thread_labpoll.attempts]] [[thread_x.y]]"
    assert render(text, threads=threads) == "Ana 3 [[thread_x.y]]"


def test_global_variables_come_from_globals():
    assert render("{{global.base_url}}/v1", globals_={"base_url": "http://h"}) == (
        "http://h/v1"
    )


def test_resolve_placeholder_returns_native_values_or_missing():
    (p, q) = find_placeholders("[[count]] [[gone]]")
    assert resolve_placeholder(p, runtime={"count": 3}) == 3
    assert resolve_placeholder(q, runtime={"count": 3}) is MISSING


def test_make_resolver_binds_scopes():
    resolve = make_resolver(dynamic={"a": 1})
    (p,) = find_placeholders("{{a}}")
    assert resolve(p) == 1


def test_render_value_walks_dicts_and_lists_leaving_keys_and_scalars():
    obj = {"{{k}}": ["[[x]]", {"deep": "id={{k}}"}, 7], "t": ("{{k}}",)}
    out = render_value(obj, dynamic={"k": "K"}, runtime={"x": 1})
    assert out == {"{{k}}": ["1", {"deep": "id=K"}, 7], "t": ["K"]}


def test_preserve_types_keeps_native_values_of_single_placeholders():
    args = {"n": "[[count]]", "gone": " [[nothing]] ", "mixed": "n=[[count]]"}
    out = render_value(args, runtime={"count": 3}, preserve_types=True)
    assert out == {"n": 3, "gone": None, "mixed": "n=3"}
