"""The accelerate configs of training/accelerate: accelerate itself reads them as their names say.

Each config is loaded with accelerate's own loader and then resolved the way `accelerate launch`
resolves it (its argument parser, its validation, the environment its launcher hands the processes),
so a key accelerate ignores or a value it reads differently fails here, without a GPU.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "training" / "accelerate"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))
SLURM = CONFIG_DIR / "slurm-2x8.sbatch"
README = CONFIG_DIR / "README.md"
RECIPE = "training/recipes/qwen2.5-coder-1.5b-lora.yaml"
# The distributed type a config's name promises, by the name's first word.
TYPE_BY_PREFIX = {"single-gpu": "NO", "ddp": "MULTI_GPU", "fsdp": "FSDP", "deepspeed": "DEEPSPEED"}
TWO_NODES = ["--num_machines", "2", "--main_process_ip", "node0", "--main_process_port", "29555"]
TWO_NODES += ["--num_processes", "16"]


def needs_accelerate() -> Any:
    return pytest.importorskip("accelerate", reason="accelerate is in the train extra: pip install -e '.[train]'")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def promised_type(config: Path) -> str:
    for prefix, distributed_type in TYPE_BY_PREFIX.items():
        if config.stem.startswith(prefix):
            return distributed_type
    raise AssertionError(f"{config.name}: the name says no distributed type (one of {sorted(TYPE_BY_PREFIX)})")


def promised_zero_stage(config: Path) -> int:
    found = re.search(r"zero(\d)", config.stem)
    assert found, f"{config.name}: a deepspeed config's name says its ZeRO stage (deepspeed-zero<N>.yaml)"
    return int(found.group(1))


def load(config: Path) -> Any:
    needs_accelerate()
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file

    loaded = load_config_from_file(str(config))
    assert isinstance(loaded, ClusterConfig), f"{config.name} is not a local-cluster config"
    return loaded


def resolve(config: Path, *flags: str, recipe_args: tuple[str, ...] = (RECIPE,)) -> tuple[Any, dict[str, str]]:
    """What `accelerate launch --config_file CONFIG FLAGS -m cwm train RECIPE_ARGS` would start.

    Returns accelerate's resolved arguments (torchrun's nproc_per_node, nnodes, ... among them) and the
    environment it gives the training processes, which Accelerator reads its plugins from.
    """
    needs_accelerate()
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import (
        prepare_deepspeed_cmd_env,
        prepare_multi_gpu_env,
        prepare_simple_launcher_cmd_env,
    )

    argv = ["--config_file", str(config), *flags, "-m", "cwm", "train", *recipe_args]
    args, defaults, mixed_precision_from_config = _validate_launch_command(launch_command_parser().parse_args(argv))
    if args.use_deepspeed:  # as accelerate's launch_command does before deepspeed_launcher
        fields = [*defaults.deepspeed_config, *(["mixed_precision"] if mixed_precision_from_config else [])]
        args.deepspeed_fields_from_accelerate_config = ",".join(fields)
        cmd, env = prepare_deepspeed_cmd_env(args)
        assert cmd is None, f"{config.name}: a multi-node DeepSpeed run would need pdsh and a hostfile: {cmd}"
    elif args.use_fsdp or args.multi_gpu:
        env = prepare_multi_gpu_env(args)
    else:
        cmd, env = prepare_simple_launcher_cmd_env(args)
        assert cmd[1:] == ["-m", "cwm", "train", *recipe_args]
    if args.use_deepspeed or args.use_fsdp or args.multi_gpu:
        assert (args.module, args.training_script, args.training_script_args) == (True, "cwm", ["train", *recipe_args])
    return args, env


def test_the_configs_are_all_there() -> None:
    names = {config.name for config in CONFIGS}
    expected = {"single-gpu.yaml", "ddp.yaml", "fsdp.yaml", "deepspeed-zero2.yaml", "deepspeed-zero3.yaml"}
    assert expected <= names, f"missing: {sorted(expected - names)}"


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.name)
def test_accelerate_loads_the_config_as_its_name_says(config: Path) -> None:
    from accelerate.utils import ComputeEnvironment, DistributedType

    loaded = load(config)
    assert loaded.compute_environment == ComputeEnvironment.LOCAL_MACHINE
    assert loaded.distributed_type == DistributedType[promised_type(config)]
    assert loaded.mixed_precision == "bf16"
    if loaded.distributed_type == DistributedType.DEEPSPEED:
        assert loaded.deepspeed_config["zero_stage"] == promised_zero_stage(config)
    else:
        assert not loaded.deepspeed_config, f"{config.name} is not a deepspeed config"
    if loaded.distributed_type != DistributedType.FSDP:
        assert not loaded.fsdp_config, f"{config.name} is not an FSDP config"


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.name)
def test_every_nested_key_is_an_option_of_accelerate_launch(config: Path) -> None:
    """The loader checks only the top-level keys; `accelerate launch` copies the nested ones onto its
    arguments as they are, so a misspelt one (fsdp_use_orig_param) would be silently ignored."""
    loaded = load(config)
    from accelerate.commands.launch import launch_command_parser

    options = {action.dest for action in launch_command_parser()._actions}
    for section in ("fsdp_config", "deepspeed_config", "dynamo_config", "fp8_config", "parallelism_config"):
        for key in getattr(loaded, section):
            # launch's own renaming (commands/launch.py: _validate_launch_command)
            if section == "fsdp_config" and not key.startswith("fsdp"):
                key = "fsdp_" + key
            elif section == "dynamo_config" and not key.startswith("dynamo_"):
                key = "dynamo_" + key
            elif section == "fp8_config" and not key.startswith("fp8"):
                key = "fp8_" + key
            assert key in options, f"{config.name}: {section}.{key} is not an option accelerate launch reads"


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.name)
def test_the_launch_gives_the_processes_bf16_and_the_config_s_plugin(config: Path) -> None:
    args, env = resolve(config, recipe_args=(RECIPE, "train.batch_size=4"))
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    distributed_type = promised_type(config)
    assert (env.get("ACCELERATE_USE_FSDP") == "true") == (distributed_type == "FSDP")
    assert (env.get("ACCELERATE_USE_DEEPSPEED") == "true") == (distributed_type == "DEEPSPEED")
    if distributed_type == "NO":
        assert args.num_processes == 1
    else:
        assert args.nproc_per_node == "8", "one node of 8 GPUs by default"


def test_fsdp_full_shard_transformer_wrap_orig_params_sharded_state_cpu_ram_efficient() -> None:
    fsdp = CONFIG_DIR / "fsdp.yaml"
    assert load(fsdp).fsdp_config["fsdp_use_orig_params"] is True
    _, env = resolve(fsdp)
    # what accelerate's FullyShardedDataParallelPlugin reads (FSDP v1 takes SHARDING_STRATEGY first)
    assert env["FSDP_VERSION"] == "1", "use_orig_params is an FSDP v1 setting"
    assert env["FSDP_USE_ORIG_PARAMS"] == "true"
    assert env["FSDP_SHARDING_STRATEGY"] == "FULL_SHARD"
    assert env["FSDP_AUTO_WRAP_POLICY"] == "TRANSFORMER_BASED_WRAP"
    assert env["FSDP_STATE_DICT_TYPE"] == "SHARDED_STATE_DICT"
    assert env["FSDP_CPU_RAM_EFFICIENT_LOADING"] == "true"
    assert env["FSDP_SYNC_MODULE_STATES"] == "true"
    assert env["FSDP_OFFLOAD_PARAMS"] == "false"


@pytest.mark.parametrize("stage", [2, 3])
def test_deepspeed_zero_stage_and_16_bit_save(stage: int) -> None:
    _, env = resolve(CONFIG_DIR / f"deepspeed-zero{stage}.yaml")
    assert env["ACCELERATE_DEEPSPEED_ZERO_STAGE"] == str(stage)
    assert env["ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE"] == "none"
    assert env["ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE"] == "none"
    # left to the recipe: DeepSpeed takes "auto" and the Trainer fills it from the training arguments
    assert "ACCELERATE_GRADIENT_ACCUMULATION_STEPS" not in env
    assert "ACCELERATE_GRADIENT_CLIPPING" not in env
    if stage == 3:
        assert env["ACCELERATE_DEEPSPEED_ZERO3_SAVE_16BIT_MODEL"] == "true", "the adapter/model must be writable"
        assert env["ACCELERATE_DEEPSPEED_ZERO3_INIT"] == "true"


def test_ddp_num_processes_on_the_command_line_wins() -> None:
    args, _ = resolve(CONFIG_DIR / "ddp.yaml", "--num_processes", "2")
    assert args.nproc_per_node == "2"


@pytest.mark.parametrize(
    "config", [config for config in CONFIGS if promised_type(config) != "NO"], ids=lambda path: path.name
)
def test_two_nodes_of_eight_from_the_command_line(config: Path) -> None:
    args, _ = resolve(config, *TWO_NODES, "--machine_rank", "1")
    assert (args.nnodes, args.nproc_per_node, args.node_rank) == ("2", "8", 1)
    assert args.rdzv_endpoint == "node0:29555"


def test_the_slurm_script_parses_and_launches_cwm_train() -> None:
    subprocess.run(["bash", "-n", str(SLURM)], check=True, timeout=30)
    text = SLURM.read_text()
    assert "accelerate launch" in text
    assert "-m cwm train" in text
    assert "#SBATCH --nodes=2" in text
    assert "#SBATCH --ntasks-per-node=1" in text


def test_the_slurm_script_starts_one_launch_per_node_with_its_rank(tmp_path: Path) -> None:
    """SLURM is not here: scontrol and srun are stand-ins that do what SLURM does for this script
    (name the nodes; run the task once per node with SLURM_NODEID set), and `accelerate` writes down
    its arguments, which accelerate's own parser then resolves."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    calls.mkdir()
    stand_ins = {
        "scontrol": '[ "$1 $2" = "show hostnames" ] && [ "$3" = "gpu[07-08]" ] && printf "gpu07\\ngpu08\\n"',
        # srun OPTIONS... COMMAND...: skip the options, run the command on "each node"
        "srun": f'while [ "${{1#-}}" != "$1" ]; do echo "$1" >> {shlex.quote(str(calls))}/srun; shift; done\n'
        'for node in 0 1; do SLURM_NODEID=$node "$@" || exit 1; done',
        "accelerate": f'printf "%s\\n" "$@" > {shlex.quote(str(calls))}/node$SLURM_NODEID',
    }
    for name, body in stand_ins.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "SLURM_JOB_NODELIST": "gpu[07-08]",
        "SLURM_NNODES": "2",
        "SLURM_CPUS_PER_TASK": "32",
        "SLURM_JOB_ID": "123",
        "SLURM_JOB_NAME": "cwm-train",
        "SLURM_SUBMIT_DIR": str(tmp_path),
        "MAIN_PORT": str(free_port()),  # accelerate checks on rank 0 that the port is free
    }
    subprocess.run(
        ["bash", str(SLURM), "my/recipe.yaml", str(CONFIG_DIR / "deepspeed-zero3.yaml"), "train.batch_size=2"],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
    )
    assert (tmp_path / "logs").is_dir()
    assert (tmp_path / "runs" / "cwm-train-123").is_dir()
    srun_options = (calls / "srun").read_text().splitlines()
    assert {"--ntasks-per-node=1", "--cpus-per-task=32"} <= set(srun_options), srun_options
    for rank in (0, 1):
        argv = (calls / f"node{rank}").read_text().splitlines()
        assert argv[0] == "launch"
        flags, script = argv[1 : argv.index("-m")], argv[argv.index("-m") + 1 :]
        assert script == ["cwm", "train", "my/recipe.yaml", "output.dir=runs/cwm-train-123", "train.batch_size=2"]
        config = Path(flags[flags.index("--config_file") + 1])
        flags = flags[: flags.index("--config_file")] + flags[flags.index("--config_file") + 2 :]
        args, env_ = resolve(config, *flags, recipe_args=tuple(script[2:]))
        assert (args.nnodes, args.nproc_per_node, args.node_rank) == ("2", "8", rank)
        assert args.rdzv_endpoint == f"gpu07:{env['MAIN_PORT']}", "the first node of the job is the main host"
        assert env_["ACCELERATE_DEEPSPEED_ZERO_STAGE"] == "3"


def test_the_readme_documents_every_file_here() -> None:
    text = README.read_text()
    for path in sorted(CONFIG_DIR.iterdir()):
        if path != README:
            assert f"`{path.name}`" in text, f"{path.name} is not documented in {README.relative_to(REPO)}"
    assert "--machine_rank" in text and "--num_processes 16" in text
