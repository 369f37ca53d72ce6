"""A driver that joins a cluster makes every local path absolute (actors in other working-dir copies and on
other nodes see the same files) and refuses a relative output dir; a local run keeps its paths."""

from pathlib import Path

from bfpo_ray.cli import main
from bfpo_ray.config import load_config
from bfpo_ray.run_paths import absolute_paths


def test_local_paths_become_absolute_and_hub_names_stay(tmp_path):
    (tmp_path / "models" / "sft").mkdir(parents=True)
    (tmp_path / "pairs.jsonl").write_text("")
    cfg = load_config("configs/demo/bfpo.yaml", ["model.path=models/sft", "data.train=[{path: pairs.jsonl}]",
                                                 "reward.reward_model=Qwen/Qwen2.5-0.5B-Instruct",
                                                 "trainer.output_dir=/shared/x", "trainer.resume=runs/x/ckpt",
                                                 "ray.address=auto"])
    out = absolute_paths(cfg, cwd=tmp_path)
    assert out.model.path == str(tmp_path / "models" / "sft")
    assert out.data.train[0].path == str(tmp_path / "pairs.jsonl")
    assert out.reward.reward_model == "Qwen/Qwen2.5-0.5B-Instruct"  # not a local path: a hub name
    assert out.trainer.output_dir == "/shared/x"
    assert out.trainer.resume == str(tmp_path / "runs" / "x" / "ckpt")
    assert Path(out.data.cache_dir).is_absolute() and Path(out.world.dir).is_absolute()
    assert cfg.model.path == "models/sft"  # the caller's config is left alone


def test_a_local_run_keeps_its_paths(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    cfg = load_config("configs/demo/bfpo.yaml", ["trainer.output_dir=runs/x"])
    assert absolute_paths(cfg, cwd=tmp_path) is cfg


def test_relative_output_dir_is_refused_when_joining_a_cluster(capsys):
    code = main(["train", "--config", "configs/cluster/rm.yaml", "ray.address=auto"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "trainer.output_dir" in err[0] and "runs/cluster/rm" in err[0] and "absolute path" in err[0]
