"""``check(progress=...)``: the engine's count of differenced coordinates reaches the user's
function on the calling thread, rising to the total; ``True`` draws the command line's bar on
standard error; the default draws nothing off a terminal; a function that raises stops the check;
a wrong value is refused. The report is the same with or without progress."""

import threading
import time

import numpy as np
import pytest

import gradproof
from gradproof._progress import TextBar, progress_function
from notebook import cost_and_grad, gradient_check_n_test_case


def notebook_check(**options):
    x, y, parameters = gradient_check_n_test_case()
    cost, grad = cost_and_grad(x, y, fixed=True)
    return gradproof.check(cost, grad, parameters, **options)


def test_a_function_is_told_the_count_up_to_the_total_on_the_calling_thread():
    calls = []
    caller = threading.get_ident()

    def told(done, total):
        calls.append((done, total, threading.get_ident()))

    report = notebook_check(progress=told)
    assert calls, "told at least once, at the end"
    assert calls[-1][:2] == (47, 47)
    assert all(thread == caller for _, _, thread in calls)
    counts = [done for done, _, _ in calls]
    assert counts == sorted(counts) and all(total == 47 for _, total, _ in calls)
    assert report.to_dict() | {"seconds": 0} == notebook_check().to_dict() | {"seconds": 0}


def test_a_slow_check_is_told_while_it_runs():
    # 300 coordinates of 2 ms each: about 1.2 s, so the 50 ms polling reports along the way.
    theta = np.linspace(-1.0, 1.0, 300)

    def cost(t):
        time.sleep(0.002)
        return float(np.sum(t ** 2))

    calls = []
    gradproof.check(cost, lambda t: 2 * t, theta, progress=lambda done, total: calls.append(done))
    assert calls[-1] == 300
    assert len(calls) >= 3 and any(0 < done < 300 for done in calls), calls


def test_true_draws_the_bar_on_standard_error(capsys):
    notebook_check(progress=True)
    err = capsys.readouterr().err
    assert "\rchecking 47/47 coordinates [==============================] " in err
    assert err.endswith(" left\n")


def test_the_default_and_false_draw_nothing_off_a_terminal(capsys):
    notebook_check()
    notebook_check(progress=False)
    assert capsys.readouterr().err == ""


def test_an_exception_in_the_function_stops_the_check_and_is_raised():
    class Enough(Exception):
        pass

    def told(done, total):
        raise Enough(f"stop at {done}")

    with pytest.raises(Enough, match="stop at"):
        notebook_check(progress=told)


@pytest.mark.parametrize("bad", [1, "yes", 0.5])
def test_a_wrong_value_is_refused(bad):
    with pytest.raises(TypeError, match="progress is a"):
        notebook_check(progress=bad)


def test_the_default_bar_is_for_a_terminal_or_a_notebook_cell(monkeypatch):
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    # A Jupyter kernel's stream is no terminal, but its cell shows what is written.
    OutStream = type("OutStream", (io.StringIO,), {"__module__": "ipykernel.iostream"})
    for stream, shown in [(io.StringIO(), False), (Terminal(), True), (OutStream(), True)]:
        monkeypatch.setattr("sys.stderr", stream)
        assert isinstance(progress_function(None), TextBar) is shown, type(stream)


def test_the_bar_waits_for_its_delay_and_estimates_the_time_left():
    import io

    out = io.StringIO()
    waiting = TextBar(out, delay=60.0)
    waiting(10, 100)
    waiting.close()
    assert out.getvalue() == ""
    bar = TextBar(out, delay=0.0)
    time.sleep(0.01)
    bar(25, 100)
    bar.close()
    line = out.getvalue()
    assert line.startswith("\rchecking 25/100 coordinates [=======>") and line.endswith(" left\n")
    assert progress_function(False) is None


def test_a_shorter_line_covers_the_longer_one_and_a_new_point_counts_anew():
    import io

    out = io.StringIO()
    bar = TextBar(out, delay=0.0)
    time.sleep(0.01)
    bar(900, 1000)
    first = out.getvalue()
    bar(1, 1000)  # the next point of a check at several points
    second = out.getvalue()[len(first):]
    assert second.startswith("\rchecking 1/1000 coordinates [>")
    assert len(second) >= len(first), "the old line is blanked out"
    bar.close()
