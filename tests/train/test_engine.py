"""The training engine: configs, schedules, kill-and-resume bit for bit, 2-process DDP (gloo)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conformers.cli.main import main
from conformers.train import load_config, lr_lambda

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGIN = os.path.join(ROOT, "tests", "train", "toy_model.py")
CONFORMERS = [sys.executable, "-m", "conformers.cli.main"]


def write_config(path, **train):
    settings = {"max_steps": 40, "log_every": 5, "val_every": 10, "checkpoint_every": 10, "progress": False,
                "threads": 1, **train}
    text = f"""
model: {{name: test-gnn, import: [{PLUGIN}], hidden: 32}}
data: {{cache: {ROOT}/data/nci-xtb/qm9, split: {ROOT}/data/nci-xtb/qm9/split.json, batch_size: 16}}
optim: {{name: adamw, lr: 0.003, clip_grad_norm: 5.0}}
schedule: {{name: cosine, warmup_steps: 5}}
train: {json.dumps(settings)}
"""
    path.write_text(text)
    return str(path)


def final_state(run):
    return torch.load(os.path.join(run, "checkpoints", "last.pt"), weights_only=False)


def assert_same_run(first, second):
    """The two run folders ended with identical weights and identical logs."""
    a, b = final_state(first)["model"], final_state(second)["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert open(os.path.join(first, "log.csv")).read() == open(os.path.join(second, "log.csv")).read()


def test_config_overrides_and_errors(tmp_path):
    cfg = write_config(tmp_path / "c.yaml")
    config = load_config(cfg, ["optim.lr=1e-4", "train.max_steps=7", "schedule.name=step"])
    assert config["optim"]["lr"] == 1e-4 and config["train"]["max_steps"] == 7
    assert config["data"]["workers"] == 0  # default filled in
    with pytest.raises(ValueError, match="unknown keys in \\[optim\\]"):
        load_config(cfg, ["optim.learning_rate=1"])
    with pytest.raises(ValueError, match="schedule.name"):
        load_config(cfg, ["schedule.name=linear"])
    toml = tmp_path / "c.toml"
    toml.write_text('[model]\nname = "rdkit"\n[data]\ncache = "x"\nsplit = "y"\n[train]\nmax_steps = 3\n')
    assert load_config(str(toml))["train"]["max_steps"] == 3


def test_schedules():
    cosine = lr_lambda({"name": "cosine", "warmup_steps": 10, "min_lr_ratio": 0.1}, 110)
    assert cosine(0) == pytest.approx(0.1) and cosine(9) == pytest.approx(1.0)
    assert cosine(60) == pytest.approx(0.1 + 0.9 * 0.5)
    assert cosine(110) == pytest.approx(0.1) and cosine(500) == pytest.approx(0.1)  # clamped, no oscillation
    step = lr_lambda({"name": "step", "warmup_steps": 0, "min_lr_ratio": 0, "step_size": 10, "gamma": 0.5}, 100)
    assert step(9) == 1.0 and step(10) == 0.5 and step(25) == 0.25


def test_train_checkpoints_and_clear_errors(tmp_path, capsys):
    cfg = write_config(tmp_path / "c.yaml")
    run = str(tmp_path / "run")
    assert main(["train", "-c", cfg, "-o", run]) == 0
    final = json.loads(open(os.path.join(run, "final.json")).read())
    assert final["step"] == 40 and os.path.isfile(os.path.join(run, "best.pt"))
    from conformers.models import load_model, read_checkpoint
    model = load_model(os.path.join(run, "best.pt"))  # the best checkpoint loads by path
    assert model.name == "test-gnn" and read_checkpoint(os.path.join(run, "best.pt"))["step"] % 10 == 0
    last = load_model(os.path.join(run, "checkpoints", "last.pt"))  # the last step's weights load the same way
    state = final_state(run)
    assert read_checkpoint(os.path.join(run, "checkpoints", "last.pt"))["step"] == state["step"] == 40
    assert all(torch.equal(last.state_dict()[k], v) for k, v in state["model"].items())
    assert main(["train", "-c", cfg, "-o", run]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "-c", cfg, "-o", str(tmp_path / "empty"), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    with open(os.path.join(run, "checkpoints", "last.pt"), "r+b") as handle:
        handle.truncate(100)
    assert main(["train", "-c", cfg, "-o", run, "--resume"]) == 2
    assert "corrupt or truncated" in capsys.readouterr().err
    assert main(["train", "-c", cfg, "-o", str(tmp_path / "r2"), "--set", "model.name=no-such-model"]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err


def test_steps_with_non_finite_gradients_are_skipped(tmp_path, capsys):
    cfg = write_config(tmp_path / "c.yaml")
    run = str(tmp_path / "run")
    assert main(["train", "-c", cfg, "-o", run, "--set", "model.nan_gradient_every=4"]) == 0
    rows = open(os.path.join(run, "log.csv")).read().splitlines()
    assert any(",skipped_steps," in row for row in rows)
    from conformers.models import load_model
    model = load_model(os.path.join(run, "best.pt"))
    assert all(torch.isfinite(p).all() for p in model.parameters())
    with pytest.raises(FloatingPointError, match="non-finite gradients"):
        main(["train", "-c", cfg, "-o", str(tmp_path / "always"), "--set", "model.nan_gradient_every=1"])


def _kill_after_next_checkpoint(command, last, after_mtime):
    """Run ``command`` until last.pt is rewritten (its mtime passes ``after_mtime``), then a few
    steps more, and SIGKILL it mid-epoch; returns the new mtime."""
    proc = subprocess.Popen(command, cwd=ROOT)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if os.path.isfile(last) and os.stat(last).st_mtime_ns != after_mtime:
            break
        time.sleep(0.005)
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return os.stat(last).st_mtime_ns


def test_killed_run_resumes_bit_for_bit(tmp_path):
    """Killed three times (each time a few steps after a checkpoint, so mid-epoch and between
    checkpoints) and resumed each time, a run whose model draws from the global RNG every step (as
    ConfOpt's starts and DMCG's latents do) ends identical to the uninterrupted one."""
    cfg = write_config(tmp_path / "c.yaml", max_steps=400, checkpoint_every=20, val_every=50, log_every=10)
    text = open(cfg).read()
    open(cfg, "w").write(text.replace("hidden: 32}", "hidden: 32, target_noise: 0.05}"))
    reference = str(tmp_path / "uninterrupted")
    subprocess.run(CONFORMERS + ["train", "-c", cfg, "-o", reference], check=True, cwd=ROOT)
    run = str(tmp_path / "killed")
    command = CONFORMERS + ["train", "-c", cfg, "-o", run]
    last = os.path.join(run, "checkpoints", "last.pt")
    mtime, kills = None, []
    for attempt in range(3):
        mtime = _kill_after_next_checkpoint(command + (["--resume"] if attempt else []), last, mtime)
        assert not os.path.isfile(os.path.join(run, "final.json")), "the run finished before it could be killed"
        kills.append(final_state(run)["step"])
    assert 0 < kills[0] < kills[1] < kills[2] < 400, kills
    subprocess.run(command + ["--resume"], check=True, cwd=ROOT)
    assert final_state(reference)["step"] == final_state(run)["step"] == 400
    assert_same_run(reference, run)


def test_two_uninterrupted_runs_with_default_threads_are_identical(tmp_path):
    """threads unset (torch's default, one per core): two runs of one config give the same weights
    and the same log."""
    cfg = write_config(tmp_path / "c.yaml", max_steps=40, threads=None)
    runs = [str(tmp_path / name) for name in ("a", "b")]
    for run in runs:
        subprocess.run(CONFORMERS + ["train", "-c", cfg, "-o", run], check=True, cwd=ROOT)
    assert_same_run(*runs)


def test_two_process_ddp_matches_single_process(tmp_path):
    # float32: bfloat16 GEMMs round differently on half batches, which is not what this test checks
    cfg = write_config(tmp_path / "c.yaml", max_steps=12, checkpoint_every=12, val_every=6, precision="float32")
    single = str(tmp_path / "single")
    subprocess.run(CONFORMERS + ["train", "-c", cfg, "-o", single], check=True, cwd=ROOT)
    ddp = str(tmp_path / "ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    import socket
    with socket.socket() as probe:  # a free port: torchrun's --standalone default (29400) may be taken
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
                             "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
                             "-m", "conformers.cli.main", "train", "-c", cfg, "-o", ddp],
                            cwd=ROOT, env=env, timeout=300, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    final = json.loads(open(os.path.join(ddp, "final.json")).read())
    assert final["world_size"] == 2 and final["ranks_in_sync"] and final["step"] == 12
    a, b = final_state(single)["model"], final_state(ddp)["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)


def test_early_stopping(tmp_path):
    cfg = write_config(tmp_path / "c.yaml", max_steps=100, val_every=2, checkpoint_every=50,
                       early_stopping_patience=2)
    run = str(tmp_path / "run")
    assert main(["train", "-c", cfg, "-o", run, "--set", "optim.lr=0.0"]) == 0  # nothing can improve
    final = json.loads(open(os.path.join(run, "final.json")).read())
    assert final["early_stopped"] and final["step"] == 6  # best at step 2, no gain at 4 and 6
    assert final_state(run)["step"] == 6  # the stop is checkpointed


def test_precision_setting(tmp_path):
    """train.precision: float32 and bfloat16 runs of the same seed log close losses; a typo is refused."""
    losses = {}
    for precision in ("float32", "bfloat16"):
        cfg = write_config(tmp_path / f"{precision}.yaml", max_steps=3, log_every=1, val_every=3, checkpoint_every=3,
                           precision=precision)
        run = str(tmp_path / precision)
        assert main(["train", "-c", cfg, "-o", run]) == 0
        rows = [line.split(",") for line in open(os.path.join(run, "log.csv")).read().splitlines()[1:]]
        losses[precision] = [float(r[4]) for r in rows if r[2] == "train" and r[3] == "loss"]
    assert len(losses["float32"]) == 3
    assert losses["bfloat16"] == pytest.approx(losses["float32"], rel=0.05)
    with pytest.raises(ValueError, match="train.precision"):
        load_config(write_config(tmp_path / "bad.yaml", precision="fp8"))


def test_auto_precision_is_float32_on_cpu(tmp_path):
    """precision auto trains in float32 on a CPU (bfloat16 autocast slowed every model's step on
    this AVX512-BF16 CPU); an explicit bfloat16 is honoured."""
    from conformers._device import autocast_dtype
    from conformers.train.engine import Trainer

    assert autocast_dtype("auto", "cpu") is None
    assert autocast_dtype("bfloat16", "cpu") is torch.bfloat16
    trainer = Trainer(load_config(write_config(tmp_path / "c.yaml", max_steps=1)), str(tmp_path / "run"))
    assert trainer.autocast_dtype is None


def test_init_from_starts_a_run_from_given_weights(tmp_path, capsys):
    """train.init_from (fine-tuning): the run starts from a checkpoint's weights, with a fresh
    optimizer and schedule; a checkpoint of another architecture is refused naming the mismatch."""
    cfg = write_config(tmp_path / "c.yaml", max_steps=10)
    first = str(tmp_path / "first")
    assert main(["train", "-c", cfg, "-o", first]) == 0
    from conformers.train.engine import Trainer
    source = os.path.join(first, "checkpoints", "last.pt")
    config = load_config(cfg, [f"train.init_from={source}"])
    trainer = Trainer(config, str(tmp_path / "tuned"))
    weights = final_state(first)["model"]
    assert all(torch.equal(trainer.model.state_dict()[k], v) for k, v in weights.items())
    assert trainer.step == 0 and not trainer.optimizer.state  # fresh optimizer
    fresh = Trainer(load_config(cfg), str(tmp_path / "fresh"))
    assert not all(torch.equal(fresh.model.state_dict()[k], v) for k, v in weights.items())
    assert main(["train", "-c", cfg, "-o", str(tmp_path / "wide"), "--set", f"train.init_from={source}",
                 "--set", "model.hidden=48"]) == 2
    assert "does not fit this model's architecture" in capsys.readouterr().err
    assert main(["train", "-c", cfg, "-o", str(tmp_path / "none"), "--set", "train.init_from=nosuch.pt"]) == 2
    assert "no checkpoint at nosuch.pt" in capsys.readouterr().err


def test_init_fresh_keeps_named_submodules_newly_initialized(tmp_path, capsys):
    """train.init_fresh: the named submodules keep the new run's initialization (a part whose
    architecture changed trains from scratch), every other weight comes from init_from; a name
    that is no submodule, or init_fresh without init_from, is refused naming the key."""
    cfg = write_config(tmp_path / "c.yaml", max_steps=10)
    first = str(tmp_path / "first")
    assert main(["train", "-c", cfg, "-o", first]) == 0
    from conformers.train.engine import Trainer
    source = os.path.join(first, "checkpoints", "last.pt")
    weights = final_state(first)["model"]
    fresh = Trainer(load_config(cfg), str(tmp_path / "fresh")).model.state_dict()
    tuned = Trainer(load_config(cfg, [f"train.init_from={source}", "train.init_fresh=[head]"]),
                    str(tmp_path / "tuned")).model.state_dict()
    assert torch.equal(tuned["head.weight"], fresh["head.weight"])
    assert not torch.equal(tuned["head.weight"], weights["head.weight"])
    assert all(torch.equal(tuned[k], weights[k]) for k in weights if not k.startswith("head."))
    assert main(["train", "-c", cfg, "-o", str(tmp_path / "bad"), "--set", f"train.init_from={source}",
                 "--set", "train.init_fresh=[nosuch]"]) == 2
    assert "train.init_fresh names ['nosuch']" in capsys.readouterr().err
    with pytest.raises(ValueError, match="train.init_fresh needs train.init_from"):
        load_config(cfg, ["train.init_fresh=[head]"])
    with pytest.raises(ValueError, match="train.init_fresh must be a list"):
        load_config(cfg, [f"train.init_from={source}", "train.init_fresh=head"])


@pytest.mark.parametrize("override, named", [
    ("data.batch_size=-4", "data.batch_size"), ("data.batch_size=2.5", "data.batch_size"),
    ("train.checkpoint_every=0", "train.checkpoint_every"), ("train.max_steps=banana", "train.max_steps"),
    ("train.seed=99999999999", "train.seed"), ("optim.lr=-1", "optim.lr"), ("optim.lr=.nan", "optim.lr"),
    ("schedule.min_lr_ratio=2", "schedule.min_lr_ratio"), ("train.threads=0", "train.threads"),
    ("optim.betas=[0.9]", "optim.betas"), ("train.val_every=true", "train.val_every")])
def test_numeric_settings_are_checked(tmp_path, override, named):
    """A nonsense number is refused naming its key (a negative batch size looped forever, a zero
    checkpoint interval divided by zero)."""
    cfg = write_config(tmp_path / "c.yaml")
    with pytest.raises(ValueError, match=named.replace(".", "\\.")):
        load_config(cfg, [override])
    assert load_config(cfg, ["train.threads=null", "optim.clip_grad_norm=null"])["train"]["threads"] is None


def test_resume_continues_the_saved_config_and_refuses_a_silent_change(tmp_path):
    cfg = write_config(tmp_path / "c.yaml", max_steps=2, checkpoint_every=2, val_every=2)
    run = str(tmp_path / "run")
    subprocess.run(CONFORMERS + ["train", "-c", cfg, "-o", run], check=True, cwd=ROOT, capture_output=True)
    changed = write_config(tmp_path / "changed.yaml", max_steps=2, checkpoint_every=2, val_every=2)
    text = open(changed).read().replace("hidden: 32", "hidden: 48")
    open(changed, "w").write(text)
    refused = subprocess.run(CONFORMERS + ["train", "-c", changed, "-o", run, "--resume", "--set", "train.max_steps=3"],
                             cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode == 2 and "differs from the run's saved" in refused.stderr and "model.hidden" in refused.stderr
    # no --config: the saved one; --set changes a value on purpose and the run folder records it
    done = subprocess.run(CONFORMERS + ["train", "-o", run, "--resume", "--set", "train.max_steps=3"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and "trained to step 3" in done.stdout, done.stderr
    assert load_config(os.path.join(run, "config.yaml"))["train"]["max_steps"] == 3
