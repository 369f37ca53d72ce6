"""The command line: one-line errors and exit codes; bad data stops a run before it writes anything."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bfpo_ray.config import load_config
from bfpo_ray.data.errors import DataError
from bfpo_ray.drivers.offline import train


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "bfpo_ray", *args], capture_output=True, text=True, timeout=120)


def test_unknown_key_exits_2_with_one_line():
    result = run_cli("train", "--config", "configs/demo/bfpo.yaml", "algorithm.bta=0.1")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("bfpo-ray: error:")]
    assert lines == ["bfpo-ray: error: command line: unknown config key 'algorithm.bta' "
                     "(did you mean 'algorithm.beta'?)"]


def test_missing_config_file_exits_2():
    result = run_cli("train", "--config", "configs/nope.yaml")
    assert result.returncode == 2 and "config file not found: configs/nope.yaml" in result.stderr


def test_bad_record_stops_before_the_run_dir_is_touched(world_dir, tmp_path):
    rows = [json.loads(line) for line in (world_dir / "pku_pairs.jsonl").read_text().splitlines()[:20]]
    rows[7]["is_response_0_safe"] = 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    (out / "checkpoints" / "step-00000005").mkdir(parents=True)
    (out / "config.yaml").write_text("previous run\n")
    cfg = load_config("configs/demo/bfpo.yaml", [f"world.dir={world_dir}", f"model.path={world_dir / 'base'}",
                                                 f"data.train[0].path={bad}", f"trainer.output_dir={out}"])
    with pytest.raises(DataError, match=r"bad\.jsonl record 7: .*is_response_0_safe"):
        train(cfg)
    assert (out / "config.yaml").read_text() == "previous run\n"
    assert (out / "checkpoints" / "step-00000005").is_dir()

    result = run_cli("train", "--config", "configs/demo/bfpo.yaml", f"world.dir={world_dir}",
                     f"model.path={world_dir / 'base'}", f"data.train[0].path={bad}", f"trainer.output_dir={out}")
    assert result.returncode == 1
    assert "bfpo-ray: error: " in result.stderr and "record 7" in result.stderr


def help_text(command: list[str], capsys) -> str:
    from bfpo_ray.cli import main

    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    text = capsys.readouterr().out
    assert done.value.code == 0 and "``" not in text  # no raw RST markup
    return text


@pytest.mark.parametrize("command", [[], ["train"], ["eval"]])
def test_help_names_every_algorithm_the_config_dirs_and_where_keys_live(command, capsys):
    from bfpo_ray.config import ALGORITHMS, PPO_REWARDS

    text = help_text(command, capsys)
    words = set(text.replace(",", " ").replace("(", " ").replace(")", " ").replace(";", " ").split())
    assert set(ALGORITHMS) <= words and set(PPO_REWARDS) <= words
    for folder in ("configs/demo", "configs/world", "configs/cluster"):
        assert f"{folder}/*.yaml" in text and any(Path(folder).glob("*.yaml"))
    assert "bfpo_ray/config.py" in text


def test_compare_help_names_its_configs_and_where_its_keys_live(capsys):
    text = help_text(["compare"], capsys)
    for config in ("configs/demo/compare.yaml", "configs/demo/compare_all.yaml", "configs/world/compare_full.yaml"):
        assert config in text and Path(config).is_file()
    assert "bfpo_ray/compare/config.py" in text and "side by side" in text


def test_eval_prints_the_files_it_wrote(monkeypatch, capsys):
    from bfpo_ray.cli import main

    seen = []
    monkeypatch.setattr("bfpo_ray.eval.run.evaluate_run", lambda cfg: seen.append(cfg) or {"name": "eval-x-12ab34cd"})
    assert main(["eval", "model.path=some/model", "eval.prompts=x.jsonl"]) == 0
    assert seen[0].eval.prompts == "x.jsonl"
    assert capsys.readouterr().out.splitlines()[-1] == ("evaluation 'eval-x-12ab34cd' written to "
                                                        "some/model/eval-x-12ab34cd.json and "
                                                        "some/model/eval-x-12ab34cd_samples.jsonl")
