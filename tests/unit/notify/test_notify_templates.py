"""Notification templates: shipped defaults, save-time validation, sandboxed rendering."""

from __future__ import annotations

import pytest

from opscopilot.notify.templates import (
    FORECAST_ALERT_TYPES,
    GENERIC,
    NotificationTemplate,
    TemplateRenderError,
    TemplateValidationError,
    declared_variables,
    default_template,
    render_template,
    sample_context,
    validate_template,
)

HOSTILE = 'Line one "quoted" \\ back\nline two <!channel> <https://evil.example|click> & <script>'


def template(name: str = "stockout_risk", **parts: str) -> NotificationTemplate:
    base = {"subject": "{{ title }}", "text": "{{ message }}"}
    return NotificationTemplate(name=name, **(base | parts))


@pytest.mark.parametrize("notification_type", [*FORECAST_ALERT_TYPES, GENERIC])
def test_shipped_defaults_validate_and_render_every_part(notification_type: str) -> None:
    tpl = default_template(notification_type)
    validate_template(tpl, declared=declared_variables(notification_type))

    rendered = render_template(tpl, sample_context(notification_type) | {"message": HOSTILE})

    assert "\n" not in rendered.subject
    assert rendered.subject.startswith("[CRITICAL] ")
    assert HOSTILE in rendered.text
    assert rendered.html is not None
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert rendered.slack_blocks is not None
    header, context, message = rendered.slack_blocks[:3]
    assert (header["type"], context["type"], message["type"]) == ("header", "context", "section")
    assert message["text"]["text"] == (
        'Line one "quoted" \\ back\nline two &lt;!channel&gt; '
        "&lt;https://evil.example|click&gt; &amp; &lt;script&gt;"
    )


def test_type_specific_defaults_show_their_figures() -> None:
    rendered = render_template(
        default_template("stockout_risk"), sample_context("stockout_risk") | {"on_hand": 1234.5}
    )
    assert "ITEM-001" in rendered.subject
    assert "On hand: 1,234.5" in rendered.text
    assert "Projected stockout: 2024-01-19" in rendered.text


def test_unknown_type_gets_the_generic_template_under_its_own_name() -> None:
    tpl = default_template("alert")  # the original API's example type
    assert tpl.name == "alert"
    assert tpl.text == default_template(GENERIC).text
    validate_template(tpl, declared=declared_variables("alert"))


def test_syntax_error_names_part_and_line() -> None:
    bad = template(text="Hello {{ recipient_name }}\n\nStock {% if on_hand %} low\n")
    with pytest.raises(TemplateValidationError) as caught:
        validate_template(bad, declared=declared_variables("stockout_risk"))
    [problem] = caught.value.problems
    assert (problem.part, problem.line) == ("text", 3)
    assert "text line 3" in caught.value.message
    assert caught.value.status_code == 422


def test_unknown_filter_is_a_syntax_problem_with_line() -> None:
    with pytest.raises(TemplateValidationError) as caught:
        validate_template(
            template(html="<p>\n{{ title | shout }}</p>"), declared=declared_variables(GENERIC)
        )
    assert [(p.part, p.line) for p in caught.value.problems] == [("html", 2)]


def test_undeclared_variable_is_named() -> None:
    bad = template(subject="{{ title }} for {{ supplier_name }}", text="{{ mesage }}")
    with pytest.raises(TemplateValidationError) as caught:
        validate_template(bad, declared=declared_variables("stockout_risk"))
    assert [(p.part, p.variable) for p in caught.value.problems] == [
        ("subject", "supplier_name"),
        ("text", "mesage"),
    ]


def test_variable_of_another_type_is_not_declared_here() -> None:
    bad = template(text="{{ shortfall_qty }}")
    validate_template(bad, declared=declared_variables("supply_shortfall"))
    with pytest.raises(TemplateValidationError, match="shortfall_qty"):
        validate_template(bad, declared=declared_variables("stockout_risk"))


def test_slack_part_must_render_to_a_list_of_blocks() -> None:
    with pytest.raises(TemplateValidationError, match="JSON"):
        validate_template(
            template(slack_blocks='[{"type": "section", "text": "{{ title }}"'),
            declared=declared_variables(GENERIC),
        )
    with pytest.raises(TemplateValidationError, match="list of blocks"):
        validate_template(
            template(slack_blocks='{"type": "section"}'), declared=declared_variables(GENERIC)
        )


def test_empty_subject_is_refused() -> None:
    with pytest.raises(TemplateValidationError, match="subject"):
        validate_template(template(subject="  "), declared=declared_variables(GENERIC))


def test_sandbox_blocks_reaching_python_internals() -> None:
    escape = template(text="{{ title.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TemplateValidationError, match="fails on sample values"):
        validate_template(escape, declared=declared_variables(GENERIC))
    with pytest.raises(TemplateRenderError):
        render_template(escape, sample_context(GENERIC))


def test_missing_variable_at_render_time_is_an_error_not_a_blank() -> None:
    context = sample_context("stockout_risk")
    del context["on_hand"]
    with pytest.raises(TemplateRenderError, match="on_hand"):
        render_template(default_template("stockout_risk"), context)


def test_html_part_escapes_but_text_part_does_not() -> None:
    rendered = render_template(
        template(html="<p>{{ message }}</p>"), sample_context(GENERIC) | {"message": "a < b & c"}
    )
    assert rendered.html == "<p>a &lt; b &amp; c</p>"
    assert rendered.text == "a < b & c"
