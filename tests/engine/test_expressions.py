from typing import Any

import pytest

from threadline.engine.expressions import (
    MEMO_TEXT_CHARS,
    BoolOp,
    Call,
    Compare,
    Constant,
    ExpressionSyntaxError,
    Not,
    Variable,
    evaluate,
    hydrate_expression,
    parse_expression,
)
from threadline.engine.templates import make_resolver


def run(text: str, **runtime: Any) -> bool:
    return evaluate(parse_expression(text), make_resolver(runtime=runtime))


def test_precedence_not_binds_tighter_than_and_tighter_than_or():
    expr = parse_expression("NOT isPresent([[a]]) OR [[b]] == 1 AND [[c]] != 2")
    assert isinstance(expr, BoolOp)
    assert expr.op == "or"
    left, right = expr.operands
    assert isinstance(left, Not)
    assert isinstance(left.operand, Call)
    assert isinstance(right, BoolOp)
    assert right.op == "and"
    assert isinstance(right.operands[0], Compare)


def test_operands_parse_to_constants_and_variables():
    expr = parse_expression("[[age]] >= -2.5")
    assert isinstance(expr, Compare)
    assert isinstance(expr.left, Variable)
    assert expr.left.placeholder.name == "age"
    assert expr.right == Constant(-2.5)


def test_literal_keywords_and_escapes():
    assert parse_expression("TRUE") == Constant(True)
    assert parse_expression("null") == Constant(None)
    assert parse_expression(r"'it\'s'") == Constant("it's")
    assert parse_expression('"double"') == Constant("double")
    assert parse_expression("1e3") == Constant(1000.0)


def test_presence_guards_and_completeness_check():
    text = "isPresent([[patient_name]]) AND isPresent([[reason_for_visit]])"
    assert run(text, patient_name="Ana", reason_for_visit="cough")
    assert not run(text, patient_name="Ana")


def test_underwriting_style_condition_with_nested_groups():
    text = (
        "isPresent([[conditions]]) AND ([[age]] < 60)"
        " AND ([[severity]] == 'none' OR [[severity]] == 'mild')"
        " AND NOT isNonEmpty([[conditions]])"
    )
    assert run(text, conditions=[], age=45, severity="mild")
    assert not run(text, conditions=["asthma"], age=45, severity="mild")
    assert not run(text, age=45, severity="mild")


def test_symbolic_operators_and_lowercase_keywords():
    assert run("[[a]] == 1 && !([[b]] == 2) || false", a=1, b=3)
    assert run("not false and (true or false)")


def test_liquid_filter_inside_operand():
    text = "[[triage.level | upcase ]] == 'URGENT'"
    assert run(text, triage={"level": "urgent"})


def test_cross_thread_variable_operand():
    resolve = make_resolver(threads={"poller": {"tries": 3}})
    assert evaluate(parse_expression("[[thread_poller.tries]] >= 3"), resolve)


def test_dynamic_operand():
    resolve = make_resolver(dynamic={"min_age": 18}, runtime={"age": 20})
    assert evaluate(parse_expression("[[age]] >= {{min_age}}"), resolve)


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">="])
def test_any_comparison_with_a_missing_operand_is_false(op):
    assert not run(f"[[gone]] {op} 1")
    assert not run(f"1 {op} [[gone]]")


def test_numeric_strings_compare_as_numbers():
    assert run("[[score]] >= 80", score="85")
    assert run("[[score]] == 85", score="85.0")
    assert not run("[[score]] < 80", score="eighty")


def test_boolean_and_boolean_strings_compare_as_booleans():
    assert run("[[ok]] == 'true'", ok=True)
    assert run("'False' == [[ok]]", ok=False)
    assert not run("[[ok]] == 'yes'", ok=True)


def test_ordering_needs_two_numbers_or_two_strings():
    assert run("[[a]] < 'b'", a="a")
    assert not run("[[a]] < 1", a=[1])
    assert not run("[[a]] > true", a=2)
    assert not run("[[a]] < 1", a=None)


def test_equality_uses_plain_equality_otherwise():
    assert run("[[v]] == null", v=None)
    assert run("[[v]] != 'Mild'", v="mild")
    assert not run("[[v]] == 'x'", v=["x"])


def test_functions_on_present_empty_and_blank_values():
    assert run("isPresent([[v]])", v="")
    assert run("isAbsent([[v]])", v=None)
    assert run("isAbsent([[nothing]])")
    assert run("isEmpty([[v]])", v="   ")
    assert run("isEmpty([[v]])", v={})
    assert run("isEmpty([[nothing]])")
    assert run("isNonEmpty([[v]])", v=0)
    assert run("isNonEmpty([[v]])", v=[1])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        (0, False),
        (2, True),
        ("off", False),
        ("NO", False),
        ("0", False),
        ("yes", True),
        ([], False),
        ({"k": 1}, True),
        (False, False),
    ],
)
def test_truthiness_of_a_bare_operand(value, expected):
    assert run("[[v]]", v=value) is expected


def test_missing_bare_operand_is_false():
    assert run("[[v]]") is False


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("", 0, "empty expression"),
        ("[[a]] == ", 9, "expected a value"),
        ("([[a]] == 1", 11, "expected ')'"),
        ("[[a]] = 1", 6, "use '=='"),
        ("1 < [[a]] < 3", 10, "cannot be chained"),
        ("status == 'x'", 0, "unknown name 'status'"),
        ("contains([[a]], 'x')", 0, "unknown function 'contains'"),
        ("isPresent([[a]], 1)", 15, "functions take one argument"),
        ("[[a]] == 'open", 9, "unterminated string"),
        ("[[a]] == 1 ;", 11, "unexpected character"),
        ("[[a]] == 1 2", 11, "expected AND, OR"),
        ("- 'x'", 2, "expected a number after '-'"),
        ("[[ ]] == 1", 0, "malformed placeholder"),
        (") == 1", 0, "expected a value"),
    ],
)
def test_malformed_expressions_report_message_and_position(text, position, fragment):
    with pytest.raises(ExpressionSyntaxError) as info:
        parse_expression(text)
    assert info.value.position == position
    assert fragment in info.value.message
    assert f"at position {position}" in str(info.value)


def test_hydrated_expression_shows_values_as_literals():
    text = "[[n]] >= 3 AND [[s]] == 'a' AND [[b]] AND [[z]] AND [[l]] AND [[gone]]"
    resolve = make_resolver(
        runtime={"n": 3, "s": "it's", "b": True, "z": None, "l": [1]}
    )
    assert hydrate_expression(text, resolve) == (
        r"3 >= 3 AND 'it\'s' == 'a' AND true AND null AND '[1]' AND [[gone]]"
    )


def test_a_condition_is_parsed_once_and_a_bad_one_raises_every_time():
    text = "[[memo_probe]] == 'yes' and isPresent([[plan]])"
    first = parse_expression(text)
    assert parse_expression(text) is first
    assert run(text, memo_probe="yes", plan="gold")
    assert not run(text, memo_probe="no", plan="gold")
    for _ in range(2):
        with pytest.raises(ExpressionSyntaxError):
            parse_expression("[[memo_probe]] == ")


def test_a_condition_longer_than_the_memo_takes_is_parsed_each_time():
    text = " or ".join(f"[[v{i}]] == {i}" for i in range(MEMO_TEXT_CHARS // 10))
    assert len(text) > MEMO_TEXT_CHARS
    first = parse_expression(text)
    assert parse_expression(text) == first
    assert parse_expression(text) is not first
    assert run(text, v3=3) and not run(text, v3=4)
