"""Checkpoint state files, atomic directories, retention and the batch schedule."""

import random

import pytest
import torch

from bfpo_ray.checkpoint import (
    MANIFEST,
    atomic_directory,
    latest_checkpoint,
    list_checkpoints,
    load_state,
    prune_checkpoints,
    remove_stale,
    rng_state,
    save_state,
    set_rng_state,
    step_dir,
    verify_directory,
)
from bfpo_ray.data.schedule import BatchSchedule


def test_optimizer_state_round_trip_without_pickle(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    save_state(opt.state_dict(), tmp_path, "optimizer")
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob("*.bin"))
    restored = load_state(tmp_path, "optimizer")
    original = opt.state_dict()
    assert restored["param_groups"] == original["param_groups"]
    for key, state in original["state"].items():
        for name, value in state.items():
            assert torch.equal(restored["state"][key][name], value)
    opt2 = torch.optim.AdamW(model.parameters(), lr=0.1)
    opt2.load_state_dict(restored)


def test_rng_state_round_trip(tmp_path):
    save_state(rng_state(), tmp_path, "rng")
    expected = (torch.rand(3), random.random())
    set_rng_state(load_state(tmp_path, "rng"))
    assert torch.equal(torch.rand(3), expected[0]) and random.random() == expected[1]


def test_save_state_refuses_unpicklable_free_types(tmp_path):
    with pytest.raises(TypeError, match="without pickle"):
        save_state({"f": object()}, tmp_path, "x")


def test_atomic_directory_leaves_nothing_on_failure(tmp_path):
    final = step_dir(tmp_path, 5)
    with pytest.raises(RuntimeError), atomic_directory(final) as tmp:
        (tmp / "half").write_text("x")
        raise RuntimeError("crash while writing")
    assert list(tmp_path.iterdir()) == []
    with atomic_directory(final) as tmp:
        (tmp / "ok").write_text("x")
    assert (final / "ok").is_file() and len(list(tmp_path.iterdir())) == 1


def test_retention_and_latest(tmp_path):
    for step in (2, 10, 4, 8):
        with atomic_directory(step_dir(tmp_path, step)) as tmp:
            (tmp / "trainer_state.json").write_text("{}")
    (tmp_path / ".step-00000012.tmp-1").mkdir()  # an unfinished write is never picked
    assert [s for s, _ in list_checkpoints(tmp_path)] == [2, 4, 8, 10]
    assert latest_checkpoint(tmp_path) == step_dir(tmp_path, 10)
    prune_checkpoints(tmp_path, keep_last=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [8, 10]
    assert latest_checkpoint(tmp_path / "missing") is None


def test_batch_schedule_is_a_pure_function_of_the_step():
    a = BatchSchedule(10, 3, seed=7)
    b = BatchSchedule(10, 3, seed=7)
    assert a.steps_per_epoch == 3
    epoch0 = [a.indices(s) for s in range(3)]
    assert len(set(sum(epoch0, []))) == 9  # no repeats inside an epoch
    assert b.indices(4) == a.indices(4)  # fresh object, same batch: resume sees the same data
    assert [a.indices(s) for s in range(3, 6)] != epoch0  # the next epoch is reshuffled
    with pytest.raises(ValueError, match="cannot fill one batch"):
        BatchSchedule(2, 3, seed=0)


def _checkpoint(root, step, payload=b"x" * 1000):
    with atomic_directory(step_dir(root, step)) as tmp:
        (tmp / "model.safetensors").write_bytes(payload)
        (tmp / "trainer_state.json").write_text("{}")
    return step_dir(root, step)


def test_torn_checkpoint_is_skipped_for_the_newest_intact_one(tmp_path, caplog):
    _checkpoint(tmp_path, 2)
    newest = _checkpoint(tmp_path, 4)
    assert verify_directory(newest) is None and (newest / MANIFEST).is_file()
    with (newest / "model.safetensors").open("r+b") as f:
        f.truncate(10)  # torn by a crash of the file system or a copy
    assert "model.safetensors has 10 bytes, 1000 were written" in verify_directory(newest)
    caplog.set_level("WARNING")
    assert latest_checkpoint(tmp_path) == step_dir(tmp_path, 2)
    assert "skipping checkpoint step-00000004" in caplog.text and "model.safetensors" in caplog.text
    (newest / "model.safetensors").write_bytes(b"y" * 1000)  # same size, other bytes
    assert "does not match its checksum" in verify_directory(newest)
    (step_dir(tmp_path, 2) / MANIFEST).unlink()  # a save killed before its last file
    assert latest_checkpoint(tmp_path) is None


def test_stale_leftovers_of_killed_saves_are_removed(tmp_path):
    keep = _checkpoint(tmp_path, 2)
    for name in (".step-00000004.tmp-123", ".step-00000002.old-9", ".publish.tmp"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_bytes(b"0" * 10)
    removed = remove_stale(tmp_path)
    assert sorted(p.name for p in removed) == [".publish.tmp", ".step-00000002.old-9", ".step-00000004.tmp-123"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [keep.name]


def test_disk_full_while_saving_keeps_every_earlier_checkpoint(tmp_path, monkeypatch):
    import errno

    import bfpo_ray.checkpoint as checkpoint

    first = step_dir(tmp_path, 2)
    with atomic_directory(first) as tmp:
        save_state({"step": 2, "w": torch.ones(3)}, tmp, "trainer_state")

    def full_disk(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")  # the write gets part way, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device", filename)

    monkeypatch.setattr(checkpoint, "save_file", full_disk)
    with pytest.raises(OSError, match="No space left"), atomic_directory(step_dir(tmp_path, 4)) as tmp:
        save_state({"step": 4, "w": torch.zeros(3)}, tmp, "trainer_state")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name]  # no torn step-4, no temp dir
    assert latest_checkpoint(tmp_path) == first
    assert torch.equal(load_state(first, "trainer_state")["w"], torch.ones(3))
