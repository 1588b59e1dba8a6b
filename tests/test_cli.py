import json

from recsys.cli import main


def test_baseline_command_scores_and_writes_a_valid_submission(tiny_dataset_dir, tmp_path, capsys):
    out, report = tmp_path / "sub.csv", tmp_path / "baselines.json"
    code = main(
        [
            "baseline",
            "--data-dir",
            str(tiny_dataset_dir),
            "--top-users",
            "50",
            "--k",
            "10",
            "--output",
            str(out),
            "--json",
            str(report),
        ]
    )
    assert code == 0
    results = json.loads(report.read_text())
    assert set(results) == {"organisers", "history_popularity"}
    for row in results.values():
        assert 0.0 <= row["valid_recall"] <= row["valid_buyers_captured"] <= 1.0
        assert row["test_buyers"] > 0  # scored against the synthetic truth file
    assert "| history_popularity |" in capsys.readouterr().out
    assert main(["validate", str(out), "--data-dir", str(tiny_dataset_dir), "--top-users", "50", "--k", "10"]) == 0


def test_bad_inputs_exit_2_with_a_message(tmp_path, capsys):
    assert main(["baseline", "--data-dir", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err
    bad = tmp_path / "sub.csv"
    bad.write_text("user_id,products\na,\"['1']\"\n")
    assert main(["validate", str(bad), "--k", "2"]) == 2
    assert "1 products, expected 2" in capsys.readouterr().err


def test_generate_command_writes_a_loadable_dataset(tmp_path, capsys):
    from recsys.data import load_dataset
    from recsys.schema import RAW_FILES, TRUTH_FILE

    out = tmp_path / "tiny"
    assert main(["generate", "--preset", "tiny", "--seed", "3", "--out", str(out)]) == 0
    assert all((out / name).is_file() for name in (*RAW_FILES, TRUTH_FILE))
    assert len(load_dataset(out, progress=False).interactions) > 10_000
    assert "tiny" in capsys.readouterr().out
    # an existing dataset is never overwritten by accident
    assert main(["generate", "--preset", "tiny", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["generate", "--preset", "tiny", "--out", str(out), "--overwrite"]) == 0
