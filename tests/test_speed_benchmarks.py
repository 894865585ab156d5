"""The speed benchmarks (benchmarks.speed) run their real code path on a few programs and report sane figures.

Each command runs with tiny limits (five samples, one repeat, a small
loop-heavy program), so these check the code path, not the speed. The
tracer's needs no sandbox; the sandbox and dataset ones run bubblewrap
sandboxes (slow) or Docker (slow, docker).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.speed import dataset as dataset_speed
from benchmarks.speed import sandbox as sandbox_speed
from benchmarks.speed import tracer as tracer_speed
from benchmarks.speed.common import CANNOT_RUN, OK, TARGET_FAILED, Target, exit_status, load_samples
from tests.shared_data import CRUXEVAL
from tracer import available_backends

TINY_LOOP = ["--loop-iterations", "200", "--loop-size", "10", "--loop-repeat", "1"]


@pytest.fixture
def cruxeval() -> Path:
    if not CRUXEVAL.is_file():
        pytest.skip(f"{CRUXEVAL} is absent")
    return CRUXEVAL


def run_json(main: Any, args: list[str], out: Path) -> tuple[int, dict[str, Any]]:
    """``main(args)`` with ``--json out``: its exit status and the figures it wrote."""
    rc = main([*args, "--plain", "--json", str(out)])
    return rc, json.loads(out.read_text(encoding="utf-8"))


def judged_failures(targets: list[dict[str, Any]]) -> int:
    return sum(t["verdict"] == "FAIL" and t.get("judged", True) for t in targets)


# -- what they share ---------------------------------------------------------------------


def test_check_exits_1_only_for_a_judged_failing_target() -> None:
    passed = Target("a", 2.0, ">= 1", True)
    failed = Target("b", 0.5, ">= 1", False)
    shown = Target("c", 0.5, ">= 1", False, judged=False)
    skipped = Target("d", None, ">= 1", None)
    assert exit_status([passed, failed], check=True) == TARGET_FAILED
    assert exit_status([passed, failed], check=False) == OK
    assert exit_status([passed, shown, skipped], check=True) == OK


def test_samples_come_from_the_cruxeval_source_with_their_expected_output(tmp_path: Path) -> None:
    rows = [
        {"id": "sample_0", "code": "def f(x):\n    return x + 1\n", "input": "1", "output": "2"},
        {"id": "sample_1", "input": "2", "output": "3"},  # no code: the source skips it
        {"id": "sample_2", "code": "def f(s):\n    return s * 2\n", "input": "'a'", "output": "'aa'"},
    ]
    path = tmp_path / "cruxeval.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    samples, skipped = load_samples(path)
    assert skipped == 1
    assert [(s.id, s.entry, s.expected) for s in samples] == [
        ("cruxeval/sample_0", "f(1)", "2"),
        ("cruxeval/sample_2", "f('a')", "'aa'"),
    ]
    assert load_samples(path, limit=1)[0] == samples[:1]


@pytest.mark.parametrize(
    "main", [tracer_speed.main, sandbox_speed.main, dataset_speed.main], ids=["tracer", "sandbox", "dataset"]
)
def test_missing_samples_exit_2_with_one_line(main: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "absent.jsonl"
    with pytest.raises(SystemExit) as exited:
        main(["--data", str(missing)])
    assert exited.value.code == CANNOT_RUN
    err = capsys.readouterr().err
    assert f"the CRUXEval samples are not at {missing}" in err
    assert "Traceback" not in err


def test_unreadable_samples_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cruxeval.jsonl"
    path.write_text('{"id": "sample_0", "input": "1"}\n', encoding="utf-8")  # every row skipped
    with pytest.raises(SystemExit) as exited:
        tracer_speed.main(["--data", str(path), "--skip-loop"])
    assert exited.value.code == CANNOT_RUN
    assert "no samples in" in capsys.readouterr().err


# -- the tracer ----------------------------------------------------------------------------


def test_tracer_benchmark_reports_every_runner_and_target(cruxeval: Path, tmp_path: Path) -> None:
    args = ["--data", str(cruxeval), "--limit", "5", "--repeat", "1", "--quiet", *TINY_LOOP]
    rc, figures = run_json(tracer_speed.main, args, tmp_path / "figures.json")
    assert rc == OK  # no --check
    assert figures["samples"] == 5
    assert figures["per_sample_ns"]["id"] == [f"cruxeval/sample_{i}" for i in range(5)]
    cwms = [f"cwm[{b}]" for b in available_backends()]
    assert figures["backends"] == available_backends()
    for name in ["untraced", "untraced+setup", "naive", *cwms]:
        runner = figures["cruxeval"][name]
        assert runner["total_s"] > 0, name
        assert runner["run_s"] > 0, name
        assert sum(runner["statuses"].values()) == 5, name
    for name in cwms:
        assert figures["cruxeval"][name]["outputs_matching_expected"] == 5
        assert figures["cruxeval"][name]["events"] > 0
        assert figures["loop_heavy"]["cwm"][name]["seconds"] > 0
        assert figures["loop_heavy"]["naive_over"][name] > 0
    names = [t["name"] for t in figures["targets"]]
    for name in cwms:
        for label in ("end to end", "run alone"):
            assert f"CRUXEval {label}: {name} / naive" in names
            assert f"CRUXEval {label}: pysnooper / {name}" in names
        assert f"loop-heavy: naive / {name}" in names
    assert all(t["verdict"] in ("PASS", "FAIL", "SKIP") for t in figures["targets"])
    assert any("not the issue's" in note for note in figures["notes"])


def test_tracer_check_follows_the_targets(cruxeval: Path, tmp_path: Path) -> None:
    """With --check, 1 exactly when a judged target failed; --check-on decides which are judged."""
    args = ["--data", str(cruxeval), "--limit", "3", "--repeat", "1", "--quiet", "--no-pysnooper", *TINY_LOOP]
    # a 200-iteration loop is far too short for cwm to beat the naive tracer 10x: that target fails
    rc, figures = run_json(tracer_speed.main, [*args, "--check"], tmp_path / "figures.json")
    loop = [t for t in figures["targets"] if t["name"].startswith("loop-heavy")]
    assert loop and all(t["judged"] for t in loop)
    assert rc == (TARGET_FAILED if judged_failures(figures["targets"]) else OK)
    assert rc == TARGET_FAILED or all(t["verdict"] == "PASS" for t in loop)
    rc, figures = run_json(tracer_speed.main, [*args, "--skip-loop", "--check"], tmp_path / "no-loop.json")
    assert figures["loop_heavy"] is None
    assert rc == (TARGET_FAILED if judged_failures(figures["targets"]) else OK)
    pysnooper = [t for t in figures["targets"] if "pysnooper" in t["name"]]
    assert pysnooper and all(t["verdict"] == "SKIP" for t in pysnooper)  # --no-pysnooper: measured nowhere


def test_tracer_rejects_bad_counts(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in (["--repeat", "0"], ["--limit", "0"], ["--loop-repeat", "0"]):
        with pytest.raises(SystemExit) as exited:
            tracer_speed.main(bad)
        assert exited.value.code == 2
        assert "must be at least 1" in capsys.readouterr().err


# -- the sandbox -----------------------------------------------------------------------------


def check_pool_figures(figures: dict[str, Any], samples: int) -> None:
    (pool,) = figures["pools"]
    assert pool["workers"] == 1
    for batch in (pool["cruxeval"], pool["bare_fork_server"]):
        assert batch["jobs"] == samples
        assert batch["seconds"] > 0 and batch["jobs_per_s"] > 0
        assert batch["latency_ms"]["p50"] > 0
        assert batch["outcomes"] == {"returned": samples}
    assert pool["host_cpu_per_job"]["total_us"] > 0
    assert [t["name"] for t in figures["targets"]] == [
        "CRUXEval jobs/s through the pool (1 workers)",
        f"pool / one container per job ({figures['baseline_judged'] or 'no baseline'})",
        "CRUXEval jobs that returned (every pool run)",
    ]
    assert figures["targets"][2]["verdict"] == "PASS"


@pytest.mark.slow
def test_sandbox_benchmark_process_backend(cruxeval: Path, tmp_path: Path) -> None:
    args = ["--backend", "process", "--workers", "1", "--limit", "5", "--baseline-jobs", "0"]
    rc, figures = run_json(
        sandbox_speed.main, [*args, "--data", str(cruxeval), "--quiet", "--check"], tmp_path / "f.json"
    )
    check_pool_figures(figures, 5)
    assert figures["baseline"] == [] and figures["pool_over_baseline"] is None
    assert figures["targets"][1]["verdict"] == "SKIP"
    assert "no baseline (--baseline-jobs 0)" in figures["notes"]
    assert rc == (TARGET_FAILED if judged_failures(figures["targets"]) else OK)


@pytest.mark.slow
@pytest.mark.docker
def test_sandbox_benchmark_docker_with_baseline(cruxeval: Path, tmp_path: Path) -> None:
    args = ["--backend", "docker", "--workers", "1", "--limit", "3", "--baseline-jobs", "2"]
    rc, figures = run_json(sandbox_speed.main, [*args, "--data", str(cruxeval), "--quiet"], tmp_path / "f.json")
    assert rc == OK
    check_pool_figures(figures, 3)
    assert figures["baseline"][0]["label"] == "sequential"  # then once per pool size, in threads
    for run in figures["baseline"]:
        assert run["jobs"] == 2 and run["jobs_per_s"] > 0
        assert run["outcomes"] == {"returned": 2}
    assert figures["baseline_judged"] == "sequential"
    assert figures["pool_over_baseline"] > 0
    assert figures["targets"][1]["verdict"] in ("PASS", "FAIL")


# -- the dataset build -------------------------------------------------------------------------


@pytest.mark.slow
def test_dataset_benchmark_process_backend(cruxeval: Path, tmp_path: Path) -> None:
    args = ["--backend", "process", "--workers", "1", "--repeat", "1", "--limit", "3", "--data", str(cruxeval)]
    rc, figures = run_json(dataset_speed.main, [*args, "--check"], tmp_path / "f.json")
    assert figures["programs"] == 6  # three of CRUXEval, three of HumanEval
    assert figures["backend"] == "process"
    assert figures["statuses"] == {"returned": 6}
    assert figures["raw_seconds"] > 0 and figures["build_seconds"] > 0
    assert figures["build_programs_per_second"] > 0
    assert figures["overhead"] == pytest.approx(
        (figures["build_seconds"] - figures["raw_seconds"]) / figures["raw_seconds"]
    )
    assert rc == (TARGET_FAILED if figures["overhead"] >= dataset_speed.MAX_OVERHEAD else OK)


@pytest.mark.slow
def test_the_bench_benchmark_scores_oracle_and_copy_with_real_runs(cruxeval: Path, tmp_path: Path) -> None:
    from benchmarks.speed import bench as bench_speed

    args = ["--workers", "2", "--limit", "12", "--data", str(cruxeval), "--check"]
    rc, figures = run_json(bench_speed.main, args, tmp_path / "f.json")
    assert figures["samples"] == 12 and figures["scored"] == {"oracle": 12, "copy": 12}
    assert figures["state"]["oracle"] == 100.0 and figures["state"]["copy"] < 100.0
    assert figures["bench_seconds"] == pytest.approx(sum(figures["seconds"].values()))
    assert figures["ratio"] == pytest.approx(figures["bench_seconds"] / figures["raw_seconds"])
    assert rc == (OK if figures["bench_seconds"] < bench_speed.MAX_SECONDS else TARGET_FAILED)


@pytest.mark.slow
def test_the_training_benchmark_compares_both_pipelines(tmp_path: Path) -> None:
    pytest.importorskip("trl", reason="needs the train extra")
    from benchmarks.speed import train as train_speed
    from tests import train_support

    data = train_support.write_dataset(tmp_path / "traces")
    report = tmp_path / "figures.json"
    code = train_speed.main(
        ["--data", str(data), "--steps", "2", "--examples", "16", "--batch", "2", "--repeat", "1",
         "--quiet", "--plain", "--json", str(report)]
    )  # fmt: skip
    assert code == 0
    figures = json.loads(report.read_text())
    for name in ("naive", "cwm"):
        assert figures[name]["tokens"] > 0 and figures[name]["seconds"] > 0
    # both see real tokens only: packing fits more examples into a step's sequences
    assert figures["cwm"]["tokens"] >= figures["naive"]["tokens"]
    assert figures["ratio"] == pytest.approx(
        figures["cwm"]["tokens_per_second"] / figures["naive"]["tokens_per_second"]
    )
    with pytest.raises(SystemExit) as stopped:  # no dataset there: said in one line, exit 2
        train_speed.main(["--data", str(tmp_path / "none"), "--quiet"])
    assert stopped.value.code == CANNOT_RUN


@pytest.mark.slow
def test_the_rollout_benchmark_times_all_four_ways(tmp_path: Path) -> None:
    pytest.importorskip("transformers", reason="needs the train extra")
    from benchmarks.speed import rollout

    report = tmp_path / "figures.json"
    argv = ["--min-frames", "20", "--batch", "2,1", "--stride", "8", "--quiet", "--plain", "--json", str(report)]
    code = rollout.main(argv)
    figures = json.loads(report.read_text())
    assert figures["traces"] >= 2 and figures["frames"] >= 40
    assert set(figures["batches"]) == {"1", "2"}
    for size, one in figures["batches"].items():
        frames, seconds = one["frames"], one["seconds"]
        assert frames["cached"] == int(size) * figures["frames"]  # every row's every frame
        assert frames["reencode"] == int(size) * sum(  # one frame in eight of each trace, every row
            (n + 7) // 8 for n in figures["frames_per_trace"]
        )
        expected = (frames["cached"] / seconds["cached"]) / (frames["reencode"] / seconds["reencode"])
        assert one["cached_ratio"] == pytest.approx(expected)
    judged = {t["name"]: t for t in figures["targets"]}
    assert "rollout / re-encoding, batch 2" in judged and "one pass / generating each frame" in judged
    assert code == OK  # without --check the verdicts are reported, not returned
    with pytest.raises(SystemExit) as stopped:
        rollout.main(["--min-frames", "100000", "--quiet"])  # no trace that long: one line, exit 2
    assert stopped.value.code == CANNOT_RUN
