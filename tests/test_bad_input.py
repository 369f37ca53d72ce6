"""Bad input ends in ONE line naming the key or file and a non-zero exit, before Ray starts.

Each case runs the real command line in-process (``bfpo_ray.cli.main``) and checks its stderr.
"""

import json
import shutil

import pytest
import ray

from bfpo_ray.cli import main
from bfpo_ray.config import load_config


@pytest.fixture
def ray_starts(monkeypatch):
    """Records every ``ray.init`` (start or join) that a command makes; the calls go through unchanged."""
    calls = []
    init = ray.init
    monkeypatch.setattr(ray, "init", lambda *a, **k: calls.append("init") or init(*a, **k))
    return calls


def fails(capsys, ray_starts, *argv):
    """Exit code and the one error line of ``bfpo-ray *argv``; asserts there is exactly one and no traceback."""
    code = main(list(map(str, argv)))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("bfpo-ray: error:")]
    assert code != 0 and len(lines) == 1 and "Traceback" not in err, err
    assert ray_starts == []  # every check happens before Ray starts
    return code, lines[0]


def train(world_dir, tmp_path, *overrides, config="configs/demo/bfpo.yaml"):
    return ["train", "--config", config, f"world.dir={world_dir}", f"model.path={world_dir / 'base'}",
            f"trainer.output_dir={tmp_path / 'run'}", "data.train[0].fraction=0.05", "data.buffer[0].fraction=0.05",
            *overrides]


def test_model_path_that_does_not_exist(capsys, ray_starts, world_dir, tmp_path):
    _, line = fails(capsys, ray_starts, *train(world_dir, tmp_path, f"model.path={tmp_path / 'no' / 'model'}"))
    assert "'model.path'" in line and "no/model does not exist" in line


def test_truncated_model_weights_are_named(capsys, ray_starts, world_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(world_dir / "base", model)
    with (model / "model.safetensors").open("r+b") as f:
        f.truncate((model / "model.safetensors").stat().st_size // 2)
    _, line = fails(capsys, ray_starts, *train(world_dir, tmp_path, f"model.path={model}"))
    assert f"{model / 'model.safetensors'} is truncated" in line


def test_output_dir_that_is_a_file(capsys, ray_starts, world_dir, tmp_path):
    (tmp_path / "run").write_text("x")
    _, line = fails(capsys, ray_starts, *train(world_dir, tmp_path))
    assert "trainer.output_dir" in line and "is a file" in line


@pytest.mark.parametrize(("override", "expected"), [
    ("trainer.log_every=0", "'trainer.log_every': must be at least 1, got 0"),
    ("trainer.resume=yes", "'trainer.resume': must be none, auto or a checkpoint directory, got a yes/no value"),
    ("data.max_length=6", "'data.max_prompt_length': 4 tokens leave no room for prompt text"),
])
def test_bad_trainer_values(capsys, ray_starts, world_dir, tmp_path, override, expected):
    extra = ["data.max_prompt_length=4"] if override.startswith("data.") else []
    code, line = fails(capsys, ray_starts, *train(world_dir, tmp_path, override, *extra))
    assert code == 2 and expected in line


def test_resume_dir_is_checked_before_any_work(capsys, ray_starts, world_dir, tmp_path):
    _, line = fails(capsys, ray_starts, *train(world_dir, tmp_path, f"trainer.resume={tmp_path / 'ckpt'}"))
    assert "'trainer.resume'" in line and "is not a checkpoint directory" in line


def test_data_file_smaller_than_one_batch(capsys, ray_starts, world_dir, tmp_path):
    small = tmp_path / "small.jsonl"
    small.write_text("".join((world_dir / "pku_pairs.jsonl").read_text().splitlines(keepends=True)[:5]))
    code, line = fails(capsys, ray_starts, *train(world_dir, tmp_path, f"data.train[0].path={small}",
                                                  "data.train[0].fraction=1", "trainer.train_batch_size=8",
                                                  "trainer.micro_batch_size=8"))
    assert code == 1 and "small.jsonl: 5 usable records, fewer than one batch (trainer.train_batch_size=8)" in line
    assert not (tmp_path / "run").exists()


def test_train_without_config(capsys, ray_starts):
    code, line = fails(capsys, ray_starts, "train", "trainer.max_steps=1")
    assert code == 2 and "train needs --config FILE" in line


def test_ppo_reward_model_that_does_not_exist(capsys, ray_starts, world_dir, tmp_path):
    code, line = fails(capsys, ray_starts, "train", "--config", "configs/world/ppo_linear.yaml",
                       f"world.dir={world_dir}", f"model.path={world_dir / 'base'}",
                       f"trainer.output_dir={tmp_path / 'run'}", f"reward.reward_model={tmp_path / 'rm'}",
                       f"reward.cost_model={world_dir / 'base'}")
    assert "'reward.reward_model'" in line and "rm does not exist" in line


def test_eval_needs_no_training_data_and_checks_the_model_dir(capsys, ray_starts, world_dir, tmp_path):
    cfg = load_config(None, [f"world.dir={world_dir}", f"model.path={world_dir / 'base'}"], for_training=False)
    assert cfg.data.train == []
    (tmp_path / "notes.txt").write_text("not a model")
    _, line = fails(capsys, ray_starts, "eval", f"world.dir={world_dir}", f"model.path={tmp_path}")
    assert f"'model.path': {tmp_path} is not a model directory (no config.json)" in line


def test_eval_refuses_to_replace_another_evaluation_of_the_same_name(capsys, ray_starts, world_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(world_dir / "base", model)
    kept = json.dumps({"name": "mine", "settings": {"prompts": "other.jsonl"}})
    (model / "mine.json").write_text(kept)
    code, line = fails(capsys, ray_starts, "eval", f"world.dir={world_dir}", f"model.path={model}", "eval.name=mine")
    assert code == 2 and line == (f"bfpo-ray: error: {model / 'mine.json'}: an evaluation named 'mine' with other "
                                  "settings exists; pick another eval.name or delete it")
    assert (model / "mine.json").read_text() == kept and not (model / "mine_samples.jsonl").exists()


def test_classifier_judge_without_its_path(capsys, ray_starts, world_dir):
    code, line = fails(capsys, ray_starts, "eval", f"world.dir={world_dir}", f"model.path={world_dir / 'base'}",
                       "eval.judge=classifier")
    assert code == 2 and "'eval.judge_path': eval.judge=classifier needs eval.judge_path" in line


def test_compare_with_a_missing_method_config(capsys, ray_starts, world_dir, tmp_path):
    compare = tmp_path / "compare.yaml"
    compare.write_text(json.dumps({"output_dir": str(tmp_path / "cmp"), "world_dir": str(world_dir),
                                   "methods": [{"name": "BFPO", "config": "configs/demo/nope.yaml"}]}))
    code, line = fails(capsys, ray_starts, "compare", "--config", compare)
    assert code == 2 and "method 'BFPO': config file not found: configs/demo/nope.yaml" in line
    assert not (tmp_path / "cmp").exists()


def test_hub_retries_print_one_line(capsys):
    import logging

    from bfpo_ray.logs import HUB_HTTP_LOGGER, setup_logging

    setup_logging()
    hub = logging.getLogger(HUB_HTTP_LOGGER)
    handler = logging.StreamHandler()  # stderr, as the command line's
    logging.getLogger().addHandler(handler)
    try:
        url = "https://huggingface.co/org/model/resolve/main/config.json"
        for attempt in range(1, 6):  # what huggingface_hub logs without network: two lines per try
            hub.warning("'[Errno -2] Name or service not known' thrown while requesting HEAD %s", url)
            hub.warning("Retrying in %ds [Retry %d/5].", 2 ** attempt, attempt)
        hub.warning("an unrelated hub warning")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"cannot reach {url} ([Errno -2] Name or service not known); retrying a few times before "
                     "giving up", "an unrelated hub warning"]


def test_disk_full_inside_an_actor_is_one_line(ray_cluster):
    import errno

    from bfpo_ray.cli import os_error_line

    @ray.remote(num_cpus=0.01)
    def save(path):
        raise OSError(errno.ENOSPC, "No space left on device", path)

    with pytest.raises(OSError) as err:  # Ray's error is also an OSError
        ray.get(save.remote("/runs/x/checkpoints/.step-00000004.tmp-7/model.safetensors"))
    assert os_error_line(err.value) == ("disk full while writing /runs/x/checkpoints/.step-00000004.tmp-7/"
                                        "model.safetensors; the checkpoints already written are intact: free space "
                                        "and resume with trainer.resume=auto")
