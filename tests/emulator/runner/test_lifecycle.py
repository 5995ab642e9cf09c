"""The worker lifecycle state machine on its own: events in, actions out, no processes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.runner.lifecycle import (
    TRANSITIONS,
    Action,
    Arm,
    Assign,
    Available,
    Deadline,
    Disarm,
    Event,
    Exited,
    Finish,
    Gone,
    Hangup,
    IllegalTransition,
    InitDone,
    InitFailed,
    Kill,
    KillProcess,
    Lifecycle,
    Reply,
    Send,
    State,
    Withdraw,
)

GRACE = 2.0


def ready() -> Lifecycle:
    machine = Lifecycle(GRACE)
    machine.handle(InitDone())
    return machine


def busy(**assign: object) -> Lifecycle:
    machine = ready()
    machine.handle(Assign(3.0, **assign))  # type: ignore[arg-type]
    return machine


def test_init_then_an_invocation_then_idle_again() -> None:
    """A worker that initialises, serves and answers is available again."""
    machine = Lifecycle(GRACE)
    assert machine.handle(InitDone()) == [Disarm(), Available(after_init=True)]
    assert machine.handle(Assign(3.0)) == [Send(), Arm(3.0)]
    assert machine.state is State.BUSY
    assert machine.handle(Reply()) == [Disarm(), Finish("reply"), Available(after_init=False)]
    assert machine.state is State.IDLE


def test_timeout_finishes_the_call_at_once_and_kills_the_worker() -> None:
    """AWS resets the environment after a timeout; the caller does not wait for the exit."""
    machine = busy()
    assert machine.handle(Deadline()) == [
        Finish("timeout"),
        KillProcess(),
        Withdraw(),
        Arm(GRACE),
    ]
    assert machine.state is State.EXITING
    assert machine.handle(Exited("signal: killed")) == [Disarm(), Gone("signal: killed")]
    assert machine.state is State.DEAD


def test_crash_mid_invocation_finishes_with_the_exit_reason() -> None:
    """The channel closing is not enough: the call ends when the exit status is known."""
    machine = busy()
    assert machine.handle(Hangup()) == [Withdraw(), Arm(GRACE)]
    assert machine.handle(Exited("exit status 3")) == [
        Disarm(),
        Finish("exit", reason="exit status 3"),
        Gone("exit status 3"),
    ]


def test_exit_seen_before_the_hangup_still_finishes_the_call() -> None:
    """The exit watcher may report before the channel's EOF is read."""
    machine = busy()
    actions = machine.handle(Exited("signal: killed"))
    assert actions == [
        Disarm(),
        Withdraw(),
        Finish("exit", reason="signal: killed"),
        Gone("signal: killed"),
    ]


def test_failed_init_answers_one_invoke_then_resets() -> None:
    """After a failed init the reply ends the environment, so the next invoke re-imports."""
    machine = Lifecycle(GRACE)
    machine.handle(InitDone(failed=True))
    machine.handle(Assign(3.0))
    assert machine.handle(Reply()) == [
        Disarm(),
        Finish("reply"),
        KillProcess(),
        Withdraw(),
        Arm(GRACE),
    ]
    assert machine.state is State.EXITING


@pytest.mark.parametrize(
    ("trigger", "timed_out"), [(Deadline(), True), (Hangup(), False), (None, False)]
)
def test_an_init_that_fails_reports_to_a_waiting_invoke(
    trigger: Event | None, timed_out: bool
) -> None:
    """An init timeout, a crash in init or a failed start become InitFailed once it exited."""
    machine = Lifecycle(GRACE)
    if trigger is not None:
        machine.handle(trigger)
    actions = machine.handle(Exited("exit status 5"))
    assert InitFailed(timed_out=timed_out, reason="exit status 5") in actions
    assert actions[-1] == Gone("exit status 5")


def test_a_worker_killed_while_starting_reports_no_init_failure() -> None:
    """Retired by a reload or closed: nobody was waiting on that init."""
    machine = Lifecycle(GRACE)
    machine.handle(Kill())
    actions = machine.handle(Exited("signal: killed"))
    assert not [a for a in actions if isinstance(a, InitFailed)]


def test_injected_crash_lets_the_handler_finish_then_kills_the_worker() -> None:
    """A crash fault discards the reply; the call ends as an exit once the process died."""
    machine = busy(fault="crash")
    actions = machine.handle(Reply())
    assert actions == [Disarm(), KillProcess(), Withdraw(), Arm(GRACE)]
    assert machine.handle(Exited("signal: killed"))[1:] == [
        Finish("exit", reason="signal: killed"),
        Gone("signal: killed"),
    ]


def test_injected_timeout_reports_a_timeout_and_resets() -> None:
    """A timeout fault finishes the call as timed out at once and resets the environment."""
    machine = busy(fault="timeout")
    assert machine.handle(Reply()) == [
        Disarm(),
        Finish("timeout", injected=True),
        KillProcess(),
        Withdraw(),
        Arm(GRACE),
    ]


def test_a_lingering_exit_is_killed_then_given_up() -> None:
    """No exit status after the grace: kill again; after a second grace, declare it dead."""
    machine = busy()
    machine.handle(Hangup())
    assert machine.handle(Deadline()) == [KillProcess(), Arm(GRACE)]
    assert machine.handle(Deadline()) == [
        Disarm(),
        Finish("exit", reason="signal: killed"),
        Gone("signal: killed"),
    ]
    assert machine.state is State.DEAD


def test_killing_the_dead_is_a_no_op() -> None:
    """The pool may kill a worker that has just died."""
    machine = busy()
    machine.handle(Exited("exit status 0"))
    assert machine.handle(Kill()) == []


@pytest.mark.parametrize(
    ("machine", "event"),
    [
        (Lifecycle(GRACE), Assign(1.0)),  # not initialised yet
        (Lifecycle(GRACE), Reply()),
        (ready(), Reply()),  # nothing was asked
        (ready(), Deadline()),  # no timer runs while idle
        (busy(), Assign(1.0)),  # one invocation at a time
        (busy(), InitDone()),
    ],
)
def test_illegal_events_raise_and_change_nothing(machine: Lifecycle, event: Event) -> None:
    """An event the table does not allow raises and leaves the state as it was."""
    before = machine.state
    with pytest.raises(IllegalTransition):
        machine.handle(event)
    assert machine.state is before


EVENTS = st.one_of(
    st.builds(InitDone, failed=st.booleans()),
    st.builds(
        Assign,
        timeout_s=st.just(3.0),
        fault=st.sampled_from([None, None, "crash", "timeout"]),
    ),
    st.just(Reply()),
    st.just(Deadline()),
    st.just(Hangup()),
    st.just(Kill()),
    st.builds(Exited, reason=st.sampled_from(["exit status 0", "signal: killed"])),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(EVENTS, max_size=40))
def test_random_event_sequences_never_reach_a_state_unnoticed(events: list[Event]) -> None:
    """Allowed events follow the table, others raise, and every assigned call ends once."""
    # What a driver relies on: each accepted Assign gets exactly one Finish (by the time
    # the worker is dead at the latest); Available only leaves an idle worker, Send only a
    # busy one; Gone comes once, last, on reaching DEAD; InitFailed only before ready.
    machine = Lifecycle(GRACE)
    assigned = finished = gone = 0
    was_ready = False
    for event in events:
        before = machine.state
        expected = TRANSITIONS.get((before, type(event)))
        if expected is None:
            with pytest.raises(IllegalTransition):
                machine.handle(event)
            assert machine.state is before
            continue
        actions: list[Action] = machine.handle(event)
        assigned += isinstance(event, Assign)
        finished += sum(isinstance(a, Finish) for a in actions)
        gone += sum(isinstance(a, Gone) for a in actions)
        if any(isinstance(a, InitFailed) for a in actions):
            assert not was_ready
        was_ready = was_ready or machine.ready
        assert machine.state in (expected, State.EXITING, State.DEAD)  # or a chained reset
        for action in actions:
            if isinstance(action, Available):
                assert machine.state is State.IDLE
                assert action is actions[-1]
            if isinstance(action, Send):
                assert machine.state is State.BUSY
            if isinstance(action, Gone):
                assert action is actions[-1] and machine.state is State.DEAD
        assert finished <= assigned
        assert machine.has_call == (finished < assigned)
        assert gone == (machine.state is State.DEAD)
    if machine.state is State.DEAD:
        assert finished == assigned
