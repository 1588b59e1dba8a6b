from benchmarks.flow_benchmark import critical_path


def test_the_critical_path_sums_the_slowest_chain_through_splits_and_fan_outs():
    # start -> (a | b) -> join -> fan (foreach) -> end; a's longest task beats b's, the fan-out counts its longest
    graph = {"start": ["a", "b"], "a": ["join"], "b": ["join"], "join": ["fan"], "fan": ["end"], "end": []}
    longest = {"start": 2.0, "a": 10.0, "b": 3.0, "join": 1.0, "fan": 7.0, "end": 0.5}
    seconds, path = critical_path(longest, graph)
    assert seconds == 2.0 + 10.0 + 1.0 + 7.0 + 0.5
    assert path == ["start", "a", "join", "fan", "end"]


def test_a_step_without_a_finished_task_counts_zero():
    seconds, path = critical_path({"start": 1.0}, {"start": ["end"], "end": []})
    assert (seconds, path) == (1.0, ["start", "end"])
