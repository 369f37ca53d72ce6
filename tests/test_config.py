"""Config loading: merging, interpolation, unknown keys, bad values, saved config."""

import pytest

from bfpo_ray.config import ConfigError, load_config, to_yaml

PAIRS = "data.train=[{path: pairs.jsonl, schema: pair}]"


def write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_and_overrides_merge_with_interpolation(tmp_path):
    path = write(tmp_path, "algorithm:\n  name: ipo\n  beta: 0.2\nworld:\n  dir: /w\n"
                 "data:\n  train:\n    - path: ${world.dir}/p.jsonl\n      schema: pair\n")
    cfg = load_config(path, ["algorithm.beta=0.3", "trainer.max_steps=7"])
    assert cfg.algorithm.name == "ipo" and cfg.algorithm.beta == 0.3 and cfg.trainer.max_steps == 7
    assert cfg.data.train[0].path == "/w/p.jsonl"
    assert cfg.model.path == "/w/base"  # default interpolates world.dir
    assert "beta: 0.3" in to_yaml(cfg)


def test_unknown_key_in_file_names_file_and_suggests(tmp_path):
    path = write(tmp_path, "algorithm:\n  bta: 0.1\n")
    expected = r"c\.yaml: unknown config key 'algorithm\.bta' \(did you mean 'algorithm\.beta'\?\)"
    with pytest.raises(ConfigError, match=expected):
        load_config(path, [PAIRS])


def test_unknown_key_on_command_line_and_in_list_items():
    with pytest.raises(ConfigError, match=r"command line: unknown config key 'trainer\.max_step' .*trainer\.max_steps"):
        load_config(None, [PAIRS, "trainer.max_step=3"])
    with pytest.raises(ConfigError, match=r"unknown config key 'data\.train\[0\]\.schem'"):
        load_config(None, ["data.train=[{path: a.jsonl, schem: pair}]"])
    with pytest.raises(ConfigError, match="unknown config key 'nonsense'$"):
        load_config(None, [PAIRS, "nonsense=1"])


def test_bad_types_and_values_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="trainer.max_steps"):
        load_config(None, [PAIRS, "trainer.max_steps=abc"])
    with pytest.raises(ConfigError, match="algorithm.name.*sft, bfpo, dpo, ipo"):
        load_config(None, [PAIRS, "algorithm.name=ppo2"])
    with pytest.raises(ConfigError, match="algorithm.logp_reduction"):
        load_config(None, [PAIRS, "algorithm.logp_reduction=max"])
    with pytest.raises(ConfigError, match="algorithm.b1"):
        load_config(None, [PAIRS, "algorithm.b1=1"])
    with pytest.raises(ConfigError, match="train_batch_size.*multiple"):
        load_config(None, [PAIRS, "trainer.train_batch_size=10", "trainer.micro_batch_size=4"])
    with pytest.raises(ConfigError, match="data.train"):
        load_config(None, [])
    with pytest.raises(ConfigError, match="sft needs sources with schema 'sft'"):
        load_config(None, [PAIRS, "algorithm.name=sft"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, [PAIRS, "justakey"])


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_config(write(tmp_path, "a: [1, 2\n", "bad.yaml"))
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- 1\n- 2\n", "list.yaml"))


def test_demo_configs_load():
    for name in ("sft", "bfpo", "dpo", "ipo"):
        cfg = load_config(f"configs/demo/{name}.yaml")
        assert cfg.algorithm.name == name
