"""StepRecorder keeps a bounded record whatever a server sends."""

from __future__ import annotations

from sipe_setup.core.steps import (
    MAX_LINE_CHARS,
    StepEvent,
    StepId,
    StepRecorder,
    StepStatus,
    omitted_line,
)


def test_lines_per_step_are_bounded_with_a_count_of_the_rest() -> None:
    events: list[StepEvent] = []
    recorder = StepRecorder(events.append, max_lines_per_step=5, max_lines_total=100)
    step = recorder.start(StepId.REGISTER, "Sign-in request")
    for n in range(10_000):
        recorder.line(step, f"← 100 Trying #{n}")
    recorder.finish(step, StepStatus.FAIL, "no final answer")
    assert len(step.lines) == 5
    assert step.omitted == 9_995
    detail = step.to_json()["detail"]
    assert isinstance(detail, list) and detail[-1] == "… 9995 more lines not shown"
    progress = [e.line for e in events if e.kind == "progress"]
    assert progress == [*step.lines, omitted_line(9_995)]  # the front end is not flooded
    assert events[-1].kind == "finished"


def test_lines_of_the_whole_check_are_bounded() -> None:
    recorder = StepRecorder(max_lines_per_step=10, max_lines_total=25)
    steps = [recorder.start(StepId.REGISTER, f"step {n}") for n in range(5)]
    for step in steps:
        for n in range(10):
            recorder.line(step, f"line {n}")
        recorder.finish(step, StepStatus.PASS, "done")
    assert sum(len(s.lines) for s in steps) == 25
    assert [s.omitted for s in steps] == [0, 0, 5, 10, 10]
    assert steps[-1].to_json()["detail"] == ["… 10 more lines not shown"]


def test_a_huge_line_is_cut() -> None:
    recorder = StepRecorder()
    step = recorder.start(StepId.REGISTER, "x")
    recorder.line(step, "A" * (MAX_LINE_CHARS * 10))
    assert len(step.lines[0]) == MAX_LINE_CHARS and step.lines[0].endswith("…")


def test_lines_after_finish_still_count() -> None:
    recorder = StepRecorder(max_lines_per_step=1)
    step = recorder.start(StepId.CONNECT, "x")
    recorder.line(step, "kept")
    recorder.finish(step, StepStatus.FAIL, "failed")
    recorder.line(step, "late")
    assert step.to_json()["detail"] == ["kept", "… 1 more line not shown"]
