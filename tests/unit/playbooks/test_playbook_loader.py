"""The loader's behaviour beyond the golden corpus: what a loaded Playbook holds, how
templated parameters are checked, and how odd inputs are reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import field_validator

from grace.actions import ActionContext, ActionParams, ActionRegistry, ActionResult, action
from grace.errors import PlaybookError, Problem
from grace.playbooks import Playbook, load_file, load_text

HEADER = "name: sample\nsteps:\n"


def problems_of(text: str, registry: ActionRegistry) -> list[Problem]:
    """The problems loading ``text`` reports (fails the test when it loads)."""
    with pytest.raises(PlaybookError) as caught:
        load_text(text, file="t.yaml", registry=registry)
    return caught.value.problems


def messages_of(text: str, registry: ActionRegistry) -> list[str]:
    """Just the messages, for compact assertions."""
    return [p.message for p in problems_of(text, registry)]


def test_load_text_returns_a_playbook_with_lines_and_patterns(registry: ActionRegistry) -> None:
    """A valid text yields the spec, a line per key and list item, and compiled patterns."""
    text = (
        "name: sample\n"
        "triggers:\n"
        "  - type: log_message\n"
        "    pattern: 'worker (?P<id>\\d+) died'\n"
        "  - type: manual\n"
        "steps:\n"
        "  - name: probe\n"
        "    action: http.check\n"
        "    with:\n"
        "      url: http://localhost/health\n"
    )
    playbook = load_text(text, file="t.yaml", registry=registry)
    assert isinstance(playbook, Playbook)
    assert playbook.name == "sample"
    assert playbook.file == "t.yaml"
    assert playbook.bundled is False
    assert playbook.lines["steps.0.with.url"] == 10
    assert playbook.lines["triggers.1"] == 5
    assert playbook.where("steps.0.with.url") == "t.yaml:10"
    first, second = playbook.patterns
    assert first is not None
    assert first.search("worker 12 died")["id"] == "12"  # type: ignore[index]
    assert second is None


def test_bundled_flag_is_recorded(registry: ActionRegistry) -> None:
    """``bundled=True`` is kept on the playbook."""
    text = HEADER + "  - {name: a, action: log, with: {message: hi}}\n"
    assert load_text(text, registry=registry, bundled=True).bundled is True


def test_unnamed_recovery_steps_get_default_names(registry: ActionRegistry) -> None:
    """Recovery steps without a name are called on_failure_<n> / on_success_<n> (1-based)."""
    text = HEADER + (
        "  - {name: a, action: log, with: {message: hi}}\n"
        "recovery:\n"
        "  on_failure:\n"
        "    - {action: log, with: {message: one}}\n"
        "    - {name: named, action: log, with: {message: two}}\n"
        "    - {action: log, with: {message: three}}\n"
        "  on_success:\n"
        "    - {action: log, with: {message: four}}\n"
    )
    recovery = load_text(text, registry=registry).spec.recovery
    assert [s.name for s in recovery.on_failure] == ["on_failure_1", "named", "on_failure_3"]
    assert [s.name for s in recovery.on_success] == ["on_success_1"]


def test_recovery_steps_may_use_main_and_earlier_recovery_outputs(
    registry: ActionRegistry,
) -> None:
    """A recovery step sees every main step and the recovery steps before it, by default name."""
    text = HEADER + (
        "  - {name: probe, action: http.check, with: {url: 'http://x'}}\n"
        "recovery:\n"
        "  on_failure:\n"
        "    - {action: ticket.open, with: {title: 'down: {{ steps.probe.outputs.status }}'}}\n"
        "    - {action: log, with: {message: '{{ steps.on_failure_1.outputs.ticket_id }}'}}\n"
    )
    load_text(text, registry=registry)


def test_a_step_missing_its_name_still_sees_the_steps_before_it(
    registry: ActionRegistry,
) -> None:
    """Only the missing name is reported, not its (valid) reference to an earlier step."""
    text = HEADER + (
        "  - {name: probe, action: http.check, with: {url: 'http://x'}}\n"
        "  - {action: log, with: {message: '{{ steps.probe.outputs.status }}'}}\n"
    )
    assert messages_of(text, registry) == ["steps.1: missing required key 'name'"]


def test_templated_parameters_are_checked_after_rendering_only(registry: ActionRegistry) -> None:
    """A template may stand where a number is expected; its literal neighbours are still checked."""
    text = HEADER + (
        "  - name: wait\n"
        "    action: sleep\n"
        "    with: {seconds: '{{ vars.delay }}'}\n"
        "  - name: probe\n"
        "    action: http.check\n"
        "    with: {url: '{{ vars.url }}', expect_status: 999}\n"
    )
    problems = problems_of(text, registry)
    assert [p.field for p in problems] == ["steps.1.with.expect_status"]
    assert problems[0].message == (
        "steps.1.with.expect_status: input should be less than or equal to 599, got 999"
    )


def test_templates_inside_lists_are_relaxed_too(registry: ActionRegistry) -> None:
    """A templated list item is not judged before rendering; a missing required key still is."""
    ok = HEADER + "  - {name: s, action: shell, with: {argv: [echo, '{{ event.message }}']}}\n"
    load_text(ok, registry=registry)
    missing = HEADER + "  - {name: s, action: shell, with: {env: {A: '{{ vars.a }}'}}}\n"
    assert messages_of(missing, registry) == [
        "steps.0.with: missing required parameter 'argv' of action 'shell'"
    ]


def test_model_validators_are_deferred_when_a_value_is_templated(
    registry: ActionRegistry,
) -> None:
    """A cross-field rule of the action (exactly one probe) waits for rendering when templated."""
    templated = HEADER + "  - {name: w, action: wait.until, with: {http: '{{ vars.url }}'}}\n"
    load_text(templated, registry=registry)
    literal = HEADER + "  - {name: w, action: wait.until, with: {timeout_s: 5}}\n"
    assert messages_of(literal, registry) == [
        "steps.0.with: value error, give exactly one of 'http' or 'tcp', got {'timeout_s': 5}"
    ]


def test_union_faults_are_one_problem(registry: ActionRegistry) -> None:
    """A value failing every member of a union is one problem naming each expectation."""
    text = HEADER + "  - {name: u, action: test.union, with: {code: nope}}\n"
    (problem,) = problems_of(text, registry)
    assert problem.field == "steps.0.with.code"
    assert "valid integer" in problem.message
    assert "valid list" in problem.message


def test_unknown_key_without_a_close_match_lists_the_allowed_keys(
    registry: ActionRegistry,
) -> None:
    """With no near miss, the hint lists every key allowed there."""
    text = HEADER + "  - {name: a, action: log, with: {message: hi}, zzz: 1}\n"
    (problem,) = problems_of(text, registry)
    assert problem.message == "steps.0.zzz: unknown key 'zzz'"
    assert problem.hint is not None
    assert problem.hint.startswith("allowed keys here: action, backup, continue_on_failure")


def test_a_misspelt_parameter_is_not_also_reported_missing(registry: ActionRegistry) -> None:
    """'secs' for 'seconds' is one problem (did you mean), not two."""
    text = HEADER + "  - {name: w, action: sleep, with: {secs: 5}}\n"
    (problem,) = problems_of(text, registry)
    assert problem.hint == "did you mean 'seconds'?"


def test_destructive_action_without_backup_key_is_fine(registry: ActionRegistry) -> None:
    """``backup`` left unset on a destructive action loads (the action backs up itself)."""
    text = HEADER + "  - {name: w, action: file.write, with: {path: /tmp/x, content: y}}\n"
    assert load_text(text, registry=registry).steps[0].backup is None


def test_outputs_default_to_everything_the_action_declares(registry: ActionRegistry) -> None:
    """A step without ``outputs:`` exposes every output its action declares."""
    text = HEADER + (
        "  - {name: run, action: shell, with: {argv: [uptime]}}\n"
        "  - {name: note, action: log, when: 'steps.run.outputs.exit_code == 0',"
        " with: {message: '{{ steps.run.outputs.stdout }}'}}\n"
    )
    load_text(text, registry=registry)


@pytest.mark.parametrize(
    "expression",
    [
        "steps.run.outputs.get('stdout', '') != ''",
        "steps.run.status == 'succeeded'",
        "steps[vars.which].outputs.anything",
        "event.attributes.any.depth.at_all",
        "event['message'] | lower is string",
        "range(3) | list | length == 3 and true",
        "not in_change_freeze and not dry_run and context.quiet",
        "vars.items | selectattr('ok') | list",
    ],
)
def test_expressions_that_are_fine(expression: str, registry: ActionRegistry) -> None:
    """Methods, computed keys, free-form attributes, globals, filters and flags are accepted."""
    text = HEADER + (
        "  - {name: run, action: shell, with: {argv: [uptime]}}\n"
        f'  - {{name: note, action: log, when: "{expression}", with: {{message: hi}}}}\n'
    )
    load_text(text, registry=registry)


def test_names_bound_inside_a_template_are_not_roots(registry: ActionRegistry) -> None:
    """Loop variables and {% set %} names are local to the template."""
    message = "{% set n = 2 %}{% for x in vars.xs %}{{ loop.index }}{{ x }}{{ n }}{% endfor %}"
    text = HEADER + f'  - {{name: a, action: log, with: {{message: "{message}"}}}}\n'
    load_text(text, registry=registry)


@pytest.mark.parametrize(
    ("expression", "message", "hint"),
    [
        ("x | lenght > 0", "unknown filter 'lenght'", "did you mean 'length'?"),
        ("x is nmber", "unknown test 'nmber'", "did you mean 'number'?"),
        (
            "{{ x }}",
            "invalid expression '{{ x }}': expected token ':', got '}'",
            "write a bare expression, without '{{ }}' (e.g. when: \"vars.retry > 0\")",
        ),
    ],
)
def test_expression_faults(
    expression: str, message: str, hint: str, registry: ActionRegistry
) -> None:
    """Unknown filters and tests, and '{{ }}' around a ``when``, are load-time errors."""
    text = HEADER + f'  - {{name: a, action: log, when: "{expression}", with: {{message: hi}}}}\n'
    (problem,) = problems_of(text, registry)
    assert problem.message.endswith(message)
    assert problem.hint is not None
    assert problem.hint.startswith(hint)


def test_every_reference_fault_in_one_template_is_reported(registry: ActionRegistry) -> None:
    """One template with three bad references yields three problems."""
    message = "{{ evnt }} {{ event.mesage }} {{ steps.nope.outputs.x }}"
    text = HEADER + f'  - {{name: a, action: log, with: {{message: "{message}"}}}}\n'
    assert len(problems_of(text, registry)) == 3


def test_a_plugin_validator_that_crashes_is_reported_not_raised() -> None:
    """An action whose parameter model raises an odd exception yields a problem."""

    class Fragile(ActionParams):
        value: str

        @field_validator("value")
        @classmethod
        def _explode(cls, value: str) -> str:
            raise LookupError(value)

    @action("fragile", params=Fragile)
    async def fragile(ctx: ActionContext, params: Fragile) -> ActionResult:
        """Breaks on purpose."""
        return ActionResult()

    registry = ActionRegistry()
    registry.register_from(fragile)
    text = HEADER + "  - {name: a, action: fragile, with: {value: x}}\n"
    (problem,) = problems_of(text, registry)
    assert "validating the parameters of action 'fragile' failed" in problem.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the top level must be a mapping of keys (the file is empty)"),
        ("# only a comment\n", "the top level must be a mapping of keys (the file is empty)"),
        ("just a string\n", "the top level must be a mapping of keys (got a string)"),
        ("- a\n- b\n", "the top level must be a mapping of keys (got a list)"),
        (
            "name: x\n---\nname: y\n",
            "invalid YAML: expected a single document in the stream, but found another document",
        ),
    ],
)
def test_top_level_shape(text: str, message: str, registry: ActionRegistry) -> None:
    """Empty files, scalars, lists and multi-document streams are refused with a clear message."""
    (problem,) = problems_of(text, registry)
    assert problem.message.startswith(message)


def test_alias_bomb_is_refused(registry: ActionRegistry) -> None:
    """A 'billion laughs' document is reported, not expanded."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]
    text = "\n".join(lines) + "\nname: bomb\nsteps: *a6\n"
    messages = messages_of(text, registry)
    assert any("expands to more than" in m for m in messages)


def test_problem_places_missing_key_at_its_parent(registry: ActionRegistry) -> None:
    """A missing key is reported where the mapping that lacks it starts."""
    text = HEADER + "  - name: a\n    with: {message: hi}\n"
    (problem,) = problems_of(text, registry)
    assert (problem.line, problem.column) == (3, 5)
    assert problem.field == "steps.0"


def test_load_file_reports_a_missing_file(tmp_path: Path, registry: ActionRegistry) -> None:
    """A path that cannot be read is one problem at line 0."""
    with pytest.raises(PlaybookError) as caught:
        load_file(tmp_path / "nope.yaml", registry=registry)
    (problem,) = caught.value.problems
    assert problem.line == 0
    assert problem.message.startswith("cannot read the file")


def test_load_file_reports_bytes_that_are_not_utf8(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    """Non-UTF-8 bytes are placed at their line and column."""
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"name: x\nsteps:\n  - name: caf\xe9\n")
    with pytest.raises(PlaybookError) as caught:
        load_file(path, registry=registry)
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (3, 14)
    assert problem.message == "the file is not UTF-8 text (byte 0xe9)"


def test_load_file_accepts_a_byte_order_mark(tmp_path: Path, registry: ActionRegistry) -> None:
    """A UTF-8 BOM (as some editors write) is ignored."""
    path = tmp_path / "bom.yaml"
    path.write_bytes(
        b"\xef\xbb\xbf" + (HEADER + "  - {name: a, action: log, with: {message: hi}}\n").encode()
    )
    assert load_file(path, registry=registry).name == "sample"
