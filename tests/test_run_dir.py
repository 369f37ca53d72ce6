"""Run directories: a new run never replaces or contradicts another one; resume checks the fingerprint and
uses only intact checkpoints. Pure file-system checks (no Ray, no model)."""

import pytest

from bfpo_ray.checkpoint import atomic_directory, step_dir
from bfpo_ray.config import ConfigError, as_container, load_config, to_yaml
from bfpo_ray.drivers.run_dir import check_run_dir, fingerprint, fingerprint_diff, open_run_dir


def cfg_for(out, name="bfpo", **overrides):
    items = {"world.dir": out.parent / "world", "trainer.output_dir": out, **overrides}
    return load_config(f"configs/demo/{name}.yaml", [f"{k}={v}" for k, v in items.items()])


def finished_run(out, cfg, checkpoints=(2,)):
    """A run dir as a driver leaves it: config, metrics, checkpoints, final weights."""
    out.mkdir(parents=True)
    (out / "config.yaml").write_text(to_yaml(cfg))
    (out / "metrics.jsonl").write_text('{"step": 1}\n{"step": 2}\n{"step": 3}\n')
    for step in checkpoints:
        with atomic_directory(step_dir(out / "checkpoints", step)) as tmp:
            (tmp / "trainer_state.json").write_text("{}")
            (tmp / "model.safetensors").write_bytes(b"w" * 64)
    (out / "model.safetensors").write_bytes(b"final")
    return sorted(p.name for p in out.rglob("*"))


def test_a_new_run_is_refused_where_another_run_lives_and_nothing_is_written(tmp_path):
    out = tmp_path / "run"
    before = finished_run(out, cfg_for(out))
    saved = (out / "config.yaml").read_text()
    with pytest.raises(ConfigError, match=r"holds another run \(config.yaml, metrics.jsonl, checkpoints, "
                                          r"model.safetensors\); resume it with trainer.resume=auto or replace it "
                                          r"with trainer.overwrite=true"):
        open_run_dir(cfg_for(out, "dpo", **{"optim.lr": 0.5}))
    assert sorted(p.name for p in out.rglob("*")) == before and (out / "config.yaml").read_text() == saved


def test_overwrite_clears_the_directory_first(tmp_path):
    out = tmp_path / "run"
    finished_run(out, cfg_for(out))
    open_run_dir(cfg_for(out, "dpo", **{"trainer.overwrite": True}))
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml"]
    assert "name: dpo" in (out / "config.yaml").read_text()
    assert "overwrite: false" in (out / "config.yaml").read_text()  # the run, not the one-time clearing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing left aside


def test_resume_refuses_a_changed_run_with_a_one_line_diff_unless_allowed(tmp_path):
    out = tmp_path / "run"
    finished_run(out, cfg_for(out, **{"optim.lr": 1e-4, "trainer.max_steps": 200}))  # dpo.yaml's steps
    (out / "model.safetensors").unlink()  # cut short: resumable
    changed = {"trainer.resume": "auto", "optim.lr": 2e-4}
    with pytest.raises(ConfigError) as err:
        check_run_dir(cfg_for(out, "dpo", **changed))
    message = str(err.value)
    assert "\n" not in message and "algorithm.name bfpo -> dpo" in message and "optim.lr 0.0001 -> 0.0002" in message
    assert "trainer.resume_allow" in message
    allowed = cfg_for(out, "dpo", **changed, **{"trainer.resume_allow": "[algorithm,data,optim.lr]"})
    assert check_run_dir(allowed) == step_dir(out / "checkpoints", 2)
    # keys that do not change the result never block a resume
    same = cfg_for(out, **{"optim.lr": 1e-4, "trainer.max_steps": 200, "trainer.resume": "auto",
                           "trainer.save_every": 7, "ray.num_cpus": 1, "policy.torch_threads": 1,
                           "trainer.exit_after_steps": 3})
    assert check_run_dir(same) == step_dir(out / "checkpoints", 2)


def test_fingerprint_covers_what_changes_the_result():
    cfg = as_container(load_config("configs/demo/bfpo.yaml", ["world.dir=w"]))
    keys = fingerprint(cfg)
    for key in ("algorithm.name", "algorithm.beta", "data.train[0].path", "data.buffer[0].fraction", "model.path",
                "optim.lr", "strategy.name", "strategy.zero_stage", "policy.num_workers", "trainer.seed",
                "trainer.train_batch_size", "trainer.max_steps"):
        assert key in keys, key
    for key in ("trainer.output_dir", "trainer.resume", "trainer.save_every", "trainer.save_points", "eval.judge",
                "ray.num_cpus", "policy.torch_threads", "data.cache_dir"):
        assert key not in keys, key
    assert fingerprint_diff({"a.b": 1, "c": 2}, {"a.b": 3, "c": 2}, ["a"]) == []
    assert fingerprint_diff({"a.b": 1}, {}, []) == ["a.b 1 -> <unset>"]


def test_resume_auto_falls_back_from_a_torn_checkpoint_and_removes_stale_saves(tmp_path, caplog):
    out = tmp_path / "run"
    finished_run(out, cfg_for(out), checkpoints=(2, 4))
    (out / "model.safetensors").unlink()
    with (step_dir(out / "checkpoints", 4) / "model.safetensors").open("r+b") as f:
        f.truncate(5)
    stale = out / "checkpoints" / ".step-00000006.tmp-4242"
    stale.mkdir()
    caplog.set_level("WARNING")
    open_run_dir(cfg_for(out, **{"trainer.resume": "auto"}))
    assert "skipping checkpoint step-00000004" in caplog.text and "model.safetensors has 5 bytes" in caplog.text
    assert check_run_dir(cfg_for(out, **{"trainer.resume": "auto"})) == step_dir(out / "checkpoints", 2)
    assert not stale.exists() and "left by an unfinished save" in caplog.text


def test_explicit_damaged_checkpoint_is_named_with_the_intact_alternative(tmp_path):
    out = tmp_path / "run"
    finished_run(out, cfg_for(out), checkpoints=(2, 4))
    torn = step_dir(out / "checkpoints", 4)
    (torn / "model.safetensors").write_bytes(b"w" * 10)
    new = tmp_path / "new"
    with pytest.raises(ConfigError, match=r"step-00000004 is damaged: .*model.safetensors has 10 bytes.*"
                                          r"newest intact checkpoint: .*step-00000002$"):
        check_run_dir(cfg_for(new, **{"trainer.resume": str(torn)}))


def test_a_finished_run_is_not_silently_retrained_by_resume_auto(tmp_path):
    out = tmp_path / "run"
    finished_run(out, cfg_for(out), checkpoints=())
    with pytest.raises(ConfigError, match="holds a finished run and no intact checkpoint"):
        check_run_dir(cfg_for(out, **{"trainer.resume": "auto"}))


def test_output_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "run").write_text("not a directory")
    with pytest.raises(ConfigError, match=r"trainer.output_dir': .*run is a file, not a directory"):
        check_run_dir(cfg_for(tmp_path / "run"))


def saved_before_a_setting_existed(out, cfg, section="online"):
    """``finished_run``, its config.yaml written without ``section`` (as a framework without it saved it)."""
    finished_run(out, cfg)
    text = (out / "config.yaml").read_text()
    head, _, tail = text.partition(f"{section}:\n")
    tail = "".join(line + "\n" for line in tail.splitlines() if not line.startswith("  "))
    (out / "config.yaml").write_text(head + tail)
    assert f"{section}:" not in (out / "config.yaml").read_text()


def test_a_run_saved_before_a_new_setting_resumes_when_the_setting_is_at_its_default(tmp_path):
    out = tmp_path / "run"
    saved_before_a_setting_existed(out, cfg_for(out))
    assert check_run_dir(cfg_for(out, **{"trainer.resume": "auto"})).name == "step-00000002"
    with pytest.raises(ConfigError, match=r"online.rounds 0 -> 2"):  # a changed new setting is a difference
        check_run_dir(cfg_for(out, **{"trainer.resume": "auto", "online.rounds": 2, "reward.reward_model": "r",
                                      "reward.cost_model": "c"}))


def test_compare_reuses_a_finished_run_saved_before_a_new_setting(tmp_path):
    from bfpo_ray.compare.runner import _finished

    out = tmp_path / "run"
    saved_before_a_setting_existed(out, cfg_for(out))
    (out / "usage.json").write_text("{}")
    assert _finished(cfg_for(out))
    assert not _finished(cfg_for(out, **{"optim.lr": 0.5}))
