"""Every command in README.md and docs/*.md works as written.

Commands are the lines of indented and of shell-fenced code blocks (a trailing `\\` continues a
line, `#` starts a comment). Those belen's tools can run offline are run, as written, by bash in a
copy of the project, with the files they assume the reader has (a sealing-key backup, a GitOps
checkout, the homelab's outputs) made from the tests' dummy material. The others (the Pulumi CLI,
kubectl, kubeseal, bin/) are checked as far as they can be offline: the project files they name
exist, the stacks they name exist, the `belen:` keys they set are settings belen reads, set with
`--path` when nested and `--secret` when secret; the flags of bin/ scripts and the options of usage
lines are ones the script or tool takes. A command this test cannot classify fails it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage
import pytest
import yaml
from pyrage import x25519

from components.errors import SettingsError
from components.settings import SECRET_KEYS, StackConfig, load_settings
from tests import gitops_repo
from tests import keyfactory as kf
from tests.graph import PROJECT_DIR, render_stack
from tools import mockrun

DOCS = [PROJECT_DIR / "README.md", *sorted((PROJECT_DIR / "docs").glob("*.md"))]
HOMELAB_OUTPUTS = PROJECT_DIR / "tests/stack-outputs/organization~belen~homelab.json"
OPS_OUTPUTS = PROJECT_DIR / "tests/stack-outputs/organization~belen~ops.json"
STACKS = {p.name[len("Pulumi."):-len(".yaml")] for p in (PROJECT_DIR / "stacks").glob("Pulumi.*.yaml")}
PROJECT_ENTRIES = {p.name for p in PROJECT_DIR.iterdir() if not p.name.startswith(".")} - {"venv", "build"}

# Text of a command the reader runs against something only they have, and what the test gives instead.
SUBSTITUTIONS = {
    # The homelab stack's real outputs, from its Pulumi backend: the tests' dummy outputs of the same shape.
    "<(pulumi stack output --stack homelab --json --show-secrets)": '"$HOMELAB_OUTPUTS"',
    "<(pulumi stack output --stack homelab --show-secrets sealingKeys)": '"$HOMELAB_KEYS"',
    "<(pulumi stack output --stack homelab sealingCertificate)": '"$HOMELAB_CERTIFICATE"',
    # docs/keys.md, rotation: the newest key alone, through a pipe.
    "<(pulumi stack output --stack homelab --show-secrets sealingKeys | python3 -c 'import json,sys; "
    "json.dump(json.load(sys.stdin)[-1:], sys.stdout)')": '"$HOMELAB_NEWEST_KEY"',
}
# Commands run with an exit code other than 0, and why that is what the docs describe.
EXPECTED_EXIT = {
    "python -m tools.preflight cloud --secrets": (1, "the stack file holds no secret yet: it lists them"),
}
# What a command's last line of standard output ends with, where the docs say so.
EXPECTED_LAST_LINE = {
    "python -m tools.keys verify --keys sealing-keys.age --identity ~/.config/belen/backup-identity.txt "
    "~/src/homelab-gitops": "0 failed",
}
# Programs whose commands are not run, and why; their project paths are still checked.
NOT_RUN = {
    "kubectl": "needs a cluster",
    "kubeseal": "needs the user's Secret and a running controller's certificate",
    "ssh-keyscan": "reaches a Git host over the network",
    "git": "clones from the network",
    "cd": "moves into the clone of the command before it",
    "mkdir": "creates a folder in the reader's home for a Pulumi file backend",
    "python3": "creates a venv (./bin/test and the test run itself use the project's)",
    "venv/bin/pip": "installs from PyPI",
    "age-keygen": "writes the reader's own identity file in their home",
    "age": "opens the reader's own backup (tests/test_keys_backup.py runs the age CLI on one)",
}
# belen's tools that are not run, and why (their usage is checked like the others').
TOOLS_NOT_RUN = {
    ("tools.keys", "import"): "stores the keys with the Pulumi CLI (`pulumi config set --secret`)",
    ("tools.keys", "backup"): "reads the stack's keys with the Pulumi CLI (`pulumi stack output --show-secrets`)",
    ("tools.resume", "homelab"): "drives the Pulumi CLI and kubectl against the stack's backend and cluster",
    ("tools.bench", None): "takes minutes of every core (tests/test_stacks.py runs --quick)",
    ("tools.bench", "recovery"): "reads the last drill's report, which a checkout may not have",
    ("tools.status", "cloud"): "reads the stack's live cluster (and its outputs through the Pulumi CLI)",
}
# The Pulumi CLI commands the docs may use; none is run (no engine in the unit suite: ./bin/e2e runs it).
PULUMI_COMMANDS = {"login", "stack init", "stack select", "stack output", "config set", "preview", "up", "destroy"}
# bin/ scripts: none is run here (bin/test is this suite, bin/e2e the drill, bin/up-local a cluster).
BIN_SCRIPTS = {"./bin/test", "./bin/e2e", "./bin/up-local"}
SHELL_LANGUAGES = {"", "sh", "bash", "shell", "console"}
USAGE_PLACEHOLDER = re.compile(r"\b(STACK|FILE|DIR|REF)\b|\[--")


@dataclass(frozen=True)
class Block:
    doc: str  # path relative to the project
    line: int  # the first line of the block's text, 1-based
    language: str | None  # None: an indented block
    text: str


@dataclass(frozen=True)
class Command:
    doc: str
    line: int
    text: str  # continuation lines joined, the comment removed

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def code_blocks(path: Path) -> list[Block]:
    """Fenced blocks and indented ones (indented 4 more than the list item they sit in)."""
    doc = str(path.relative_to(PROJECT_DIR))
    lines = path.read_text().split("\n")
    blocks: list[Block] = []
    list_indent = 0
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = re.match(r"^\s*```(\w*)\s*$", line)
        if fence:
            end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
            blocks.append(Block(doc, index + 2, fence.group(1), "\n".join(lines[index + 1:end])))
            index = end + 1
            continue
        indent = len(line) - len(line.lstrip())
        item = re.match(r"^(\s*)(\d+\.|[-*]) ", line)
        if item:
            list_indent = item.end()
        elif line.strip() and indent == 0:
            list_indent = 0
        if line.strip() and indent >= list_indent + 4 and (index == 0 or not lines[index - 1].strip()):
            start = index
            while index < len(lines) and (not lines[index].strip() or
                                          len(lines[index]) - len(lines[index].lstrip()) >= list_indent + 4):
                index += 1
            text = "\n".join(l[list_indent + 4:] for l in lines[start:index]).rstrip()
            blocks.append(Block(doc, start + 1, None, text))
            continue
        index += 1
    return blocks


def strip_comment(line: str) -> str:
    """The line without a `#` comment (a `#` outside quotes, at the start or after a space)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def block_commands(block: Block) -> list[Command]:
    commands = []
    pending, first = "", 0
    for offset, raw in enumerate(block.text.split("\n")):
        line = strip_comment(raw)
        if not pending:
            first = block.line + offset
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        text = (pending + line.strip()).strip()
        pending = ""
        if text:
            commands.append(Command(block.doc, first, text))
    return commands


def all_blocks() -> list[Block]:
    return [block for path in DOCS for block in code_blocks(path)]


def shell_commands() -> list[Command]:
    return [c for b in all_blocks() if b.language is None or b.language in SHELL_LANGUAGES for c in block_commands(b)]


ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def parts(command: str) -> list[list[str]]:
    """The simple commands of a pipeline or list (`|`, `&&`, `;`), each as words; redirections dropped."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars="|&;<>()")
    lexer.whitespace_split = True
    result: list[list[str]] = [[]]
    tokens = list(lexer)
    skip = False
    for token in tokens:
        if skip:
            skip = False
            continue
        if token in ("|", "&&", ";", "||", "<(", ")"):  # a process substitution is a command of its own
            result.append([])
        elif token in ("<", ">", ">>", "2>"):
            skip = True
        elif result[-1] or not ENV_ASSIGNMENT.match(token):  # `NAME=value cmd`: the environment is not the command
            result[-1].append(token)
    return [words for words in result if words]


def tool_of(words: list[str]) -> tuple[str, str | None] | None:
    """('tools.keys', 'check') for `python -m tools.keys check …`; None for anything else."""
    if words[0] in ("python", "venv/bin/python") and len(words) > 2 and words[1] == "-m" and words[2].startswith("tools."):
        sub = words[3] if len(words) > 3 and not words[3].startswith("-") else None
        return words[2], sub
    return None


def kind(command: Command) -> str:
    """usage, run, tool-not-run, pulumi, bin, other (NOT_RUN programs); anything else fails the test."""
    first = parts(command.text)[0]
    tool = tool_of(first)
    if tool and USAGE_PLACEHOLDER.search(command.text):
        return "usage"
    if tool:
        return "tool-not-run" if tool in TOOLS_NOT_RUN else "run"
    if first[0] == "pulumi":
        return "pulumi"
    if first[0] in BIN_SCRIPTS:
        return "bin"
    if all(words[0] in NOT_RUN or words[0] == "pulumi" for words in parts(command.text)):
        return "other"
    return "unknown"


COMMANDS = shell_commands()


def by_kind(*kinds: str) -> list[Command]:
    return [c for c in COMMANDS if kind(c) in kinds]


def pulumi_parts() -> list[tuple[Command, list[str]]]:
    return [(c, words) for c in COMMANDS for words in parts(c.text) if words[0] == "pulumi"]


# --- classification ------------------------------------------------------------------------------

def test_the_docs_hold_commands_of_every_kind():
    kinds = {kind(c) for c in COMMANDS}
    assert {"usage", "run", "tool-not-run", "pulumi", "bin", "other"} <= kinds, kinds


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.id)
def test_every_command_is_classified(command):
    assert kind(command) != "unknown", (
        f"{command.id}: `{command.text}` is neither run nor checked — add its program to NOT_RUN with the reason")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.id)
def test_tools_are_run_with_the_venvs_python(command):
    """README defines `python -m tools.…` as the venv's Python; no other spelling."""
    for words in parts(command.text):
        if "-m" in words and any(w.startswith("tools.") for w in words):
            assert words[0] in ("python", "venv/bin/python"), f"{command.id}: `{command.text}`"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.id)
def test_project_paths_named_exist(command):
    for path in project_paths(command.text):
        assert (PROJECT_DIR / path).exists(), f"{command.id}: `{command.text}` names {path}, which does not exist"


def project_paths(text: str) -> list[str]:
    """Arguments that are paths inside the project (`tests/render-inputs/cloud.yaml`, `REF=docs/x.yaml`)."""
    found = []
    for words in parts(text):
        for word in words[1:]:
            candidate = word.rpartition("=")[2]
            top = candidate.removeprefix("./").split("/")[0]
            if top in PROJECT_ENTRIES and not candidate.startswith("-"):
                found.append(candidate)
    return found


# --- belen's tools, run -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A copy of the project with the venv's python, the files the docs assume, and a home folder."""
    root = tmp_path_factory.mktemp("docs")
    project = root / "belen"
    shutil.copytree(PROJECT_DIR, project, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", "venv", "build", ".state", "__pycache__", ".pytest_cache"))
    bin_dir = root / "bin"
    for python in (project / "venv/bin/python", bin_dir / "python"):
        # A script, not a link: a venv's python finds its packages only when called by its own path.
        python.parent.mkdir(parents=True, exist_ok=True)
        python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        python.chmod(0o755)
    home = root / "home"
    outputs = json.loads(HOMELAB_OUTPUTS.read_text())
    # The reader's checkout of the GitOps repository the homelab's Flux syncs, sealed for its keys.
    checkout = gitops_repo.write(home / "src/homelab-gitops", gitops_repo.clean_files(outputs["sealingCertificate"]))
    # docs/keys.md "Rotating the sealing key": what its pipes carry (the stack's keys, its certificate, the
    # newest key alone), outside the project folder as the pipes are, and the GitOps checkout beside it.
    piped = root / "piped"
    piped.mkdir()
    (piped / "keys.json").write_text(json.dumps(outputs["sealingKeys"]))
    (piped / "newest.json").write_text(json.dumps(outputs["sealingKeys"][-1:]))
    (piped / "cert.pem").write_text(outputs["sealingCertificate"])
    gitops_repo.write(root / "gitops", gitops_repo.clean_files(outputs["sealingCertificate"]))
    # docs/rebuild.md: the reader's age identity and the backup `tools.keys backup` wrote with it.
    identity = x25519.Identity.generate()
    (home / ".config/belen").mkdir(parents=True)
    (home / ".config/belen/backup-identity.txt").write_text(f"{identity}\n")
    (project / "homelab-keys-2026-12-06.age").write_bytes(
        pyrage.encrypt(json.dumps(outputs["sealingKeys"]).encode(), [identity.to_public()]))
    # docs/replica.md: the controller's key Secrets as kubectl printed them, piped through `age -e`.
    (project / "sealing-keys.age").write_bytes(
        pyrage.encrypt(kf.backup_yaml(outputs["sealingKeys"]).encode(), [identity.to_public()]))
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(home),
        "GITOPS_CHECKOUT": str(checkout),
        "HOMELAB_OUTPUTS": str(HOMELAB_OUTPUTS),
        "HOMELAB_KEYS": str(piped / "keys.json"),
        "HOMELAB_NEWEST_KEY": str(piped / "newest.json"),
        "HOMELAB_CERTIFICATE": str(piped / "cert.pem"),
        "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost",
    }
    return project, env


def as_run(command: Command) -> str:
    text = command.text
    for written, given in SUBSTITUTIONS.items():
        text = text.replace(written, given)
    return text


@pytest.mark.parametrize("command", by_kind("run"), ids=lambda c: c.id)
def test_commands_of_belens_tools_run_as_written(command, workspace):
    project, env = workspace
    code, why = EXPECTED_EXIT.get(command.text, (0, "it works"))
    result = subprocess.run(["bash", "-c", "set -o pipefail; " + as_run(command)], cwd=project, capture_output=True,
                            text=True, env={**os.environ, **env}, timeout=600)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, (
        f"{command.id}: `{command.text}` exited {result.returncode}, expected {code} ({why}):\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    if command.text in EXPECTED_LAST_LINE:
        assert result.stdout.splitlines()[-1].endswith(EXPECTED_LAST_LINE[command.text]), result.stdout


def test_preflight_secrets_lists_only_what_the_doc_sets(workspace):
    """A runbook that runs `tools.preflight STACK --secrets` sets, before it, every secret it lists."""
    project, env = workspace
    checked = 0
    for command in by_kind("run"):
        words = parts(command.text)[0]
        if tool_of(words)[0] != "tools.preflight" or "--secrets" not in words:
            continue
        stack = words[3]
        result = subprocess.run(["bash", "-c", as_run(command)], cwd=project, capture_output=True, text=True,
                                env={**os.environ, **env}, timeout=600)
        listed = {config_key(parts(line)[0]) for line in result.stdout.splitlines() if line.startswith("pulumi config set")}
        set_before = {key for c, words in pulumi_parts() if c.doc == command.doc and c.line < command.line
                      and words[1:3] == ["config", "set"] and "--secret" in words and stack_of(words) == stack
                      for key in [config_key(words)]}
        assert listed and listed <= set_before, (
            f"{command.id}: lists {sorted(listed)}; {command.doc} sets {sorted(set_before)} before it")
        checked += 1
    assert checked, "no doc runs tools.preflight --secrets"


# --- belen's tools, not run: their usage lines --------------------------------------------------

@pytest.mark.parametrize("command", by_kind("usage", "tool-not-run"), ids=lambda c: c.id)
def test_usage_lines_name_real_options(command):
    words = parts(command.text)[0]
    module, sub = tool_of(words)
    help_args = ["-m", module, *([sub] if sub and not USAGE_PLACEHOLDER.fullmatch(sub) else []), "--help"]
    result = subprocess.run([sys.executable, *help_args], cwd=PROJECT_DIR, capture_output=True, text=True)
    assert result.returncode == 0, f"{command.id}: `python {' '.join(help_args)}` failed:\n{result.stderr}"
    for option in re.findall(r"(?<![\w-])--[a-z][\w-]*", command.text):
        assert option in result.stdout, f"{command.id}: `{command.text}`: {module} {sub or ''} has no {option}"
    if kind(command) == "tool-not-run":
        for words in parts(command.text):
            if "--stack" in words:
                assert stack_of(words) in STACKS, f"{command.id}: no stack file for {stack_of(words)}"


# --- the Pulumi CLI, not run --------------------------------------------------------------------

def stack_of(words: list[str]) -> str | None:
    for flag in ("--stack", "-s"):
        if flag in words:
            return words[words.index(flag) + 1]
    return None


def positional(words: list[str]) -> list[str]:
    """Words that are not flags or their values (the flags pulumi's commands in the docs take)."""
    with_value = {"--stack", "-s", "--file", "--secrets-provider"}
    result, skip = [], False
    for word in words[1:]:
        if skip:
            skip = False
        elif word in with_value:
            skip = True
        elif not word.startswith("-"):
            result.append(word)
    return result


def config_key(words: list[str]) -> str:
    return positional(words)[2]


def initialised_stacks(doc: str) -> set[str]:
    return {positional(words)[2] for c, words in pulumi_parts() if c.doc == doc and positional(words)[:2] == ["stack", "init"]}


@pytest.mark.parametrize("command,words", pulumi_parts(), ids=lambda v: v.id if isinstance(v, Command) else "")
def test_pulumi_commands_are_real_and_name_real_stacks(command, words):
    args = positional(words)
    assert " ".join(args[:2]) in PULUMI_COMMANDS or args[:1] and args[0] in PULUMI_COMMANDS, (
        f"{command.id}: `{' '.join(words)}` is not a pulumi command the docs are known to use: {sorted(PULUMI_COMMANDS)}")
    stack = stack_of(words)
    if stack is not None:
        assert stack in STACKS | initialised_stacks(command.doc), f"{command.id}: no stacks/Pulumi.{stack}.yaml"
    if args[:2] == ["stack", "output"] and len(args) > 2:
        assert args[2] in documented_outputs(), f"{command.id}: `{args[2]}` is not a stack output (README, Stack outputs)"


def config_sets() -> list[tuple[Command, list[str]]]:
    return [(c, w) for c, w in pulumi_parts() if positional(w)[:2] == ["config", "set"]]


@pytest.mark.parametrize("command,words", config_sets(), ids=lambda v: v.id if isinstance(v, Command) else "")
def test_config_set_sets_a_real_setting_the_right_way(command, words):
    key = config_key(words)
    assert key.startswith("belen:"), f"{command.id}: `{key}` is not a belen setting"
    path = key.removeprefix("belen:")
    top = re.split(r"[.\[]", path)[0]
    if path != top:
        assert "--path" in words, f"{command.id}: `{key}` is nested: without --path pulumi writes the literal key"
    secret = top in SECRET_KEYS
    assert ("--secret" in words) == secret, (
        f"{command.id}: `{key}` is {'a secret' if secret else 'not a secret'} setting: "
        f"{'add' if secret else 'remove'} --secret")
    assert not unknown_setting(key, stack_of(words)), f"{command.id}: {unknown_setting(key, stack_of(words))}"


def unknown_setting(key: str, stack: str | None) -> list[str]:
    """belen's `unknown setting` lines for `key` set (to a dummy value) over the stack's own settings."""
    values = dict(stack_file(stack)) if stack in STACKS else {}
    top, _, rest = key.partition(".")
    values[top] = nested(values.get(top), path_parts(rest), "dummy")
    secret_keys = {k for k in values if k.removeprefix("belen:") in SECRET_KEYS}
    try:
        load_settings(StackConfig(values, frozenset(secret_keys)), stack or "docs")
    except SettingsError as error:
        return [line for line in error.lines if "unknown setting" in line
                and (key + ".").startswith(line.partition(": ")[0] + ".")]
    return []


def stack_file(stack: str) -> dict[str, Any]:
    return yaml.safe_load((PROJECT_DIR / f"stacks/Pulumi.{stack}.yaml").read_text()).get("config") or {}


def path_parts(path: str) -> list[str | int]:
    """`a.b[0].c` as `pulumi config set --path` reads it: ["a", "b", 0, "c"]."""
    return [int(index) if index else name for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path)]


def nested(current: Any, path: list[str | int], value: Any) -> Any:
    if not path:
        return value
    if isinstance(path[0], int):
        items = list(current) if isinstance(current, list) else []
        items.extend([None] * (path[0] + 1 - len(items)))
        items[path[0]] = nested(items[path[0]], path[1:], value)
        return items
    mapping = dict(current) if isinstance(current, dict) else {}
    mapping[path[0]] = nested(mapping.get(path[0]), path[1:], value)
    return mapping


# --- bin/ scripts, not run -----------------------------------------------------------------------

@pytest.mark.parametrize("command", by_kind("bin"), ids=lambda c: c.id)
def test_bin_scripts_exist_and_take_the_flags_shown(command):
    words = parts(command.text)[0]
    script = PROJECT_DIR / words[0]
    assert script.is_file() and os.access(script, os.X_OK), f"{command.id}: {words[0]} is not an executable script"
    for flag in (w for w in words[1:] if w.startswith("--")):
        assert flag in script.read_text(), f"{command.id}: {words[0]} neither handles nor documents {flag}"


# --- blocks that are not commands ----------------------------------------------------------------

def test_no_command_is_missed_by_the_extraction():
    """An indented line that starts like a command is inside a block this test reads."""
    covered = {(b.doc, b.line + i) for b in all_blocks() for i in range(b.text.count("\n") + 1)}
    starts = ("python -m", "venv/bin/python", "pulumi ", "kubectl ", "kubeseal ", "./bin/")
    missed = [f"{path.relative_to(PROJECT_DIR)}:{number}" for path in DOCS
              for number, line in enumerate(path.read_text().split("\n"), 1)
              if line.startswith("    ") and line.lstrip().startswith(starts)
              and (str(path.relative_to(PROJECT_DIR)), number) not in covered]
    assert not missed

@pytest.mark.parametrize("block", [b for b in all_blocks() if b.language == "yaml"], ids=lambda b: f"{b.doc}:{b.line}")
def test_yaml_blocks_are_yaml(block):
    assert yaml.safe_load(block.text) is not None


# --- README's "Your own cluster" -----------------------------------------------------------------

def own_cluster() -> tuple[str, dict[str, Any]]:
    """The section's text and the settings its `pulumi config set` commands write."""
    section = (PROJECT_DIR / "README.md").read_text().split("## Your own cluster")[1].split("\n## ")[0]
    config: dict[str, Any] = {}
    for command, words in config_sets():
        if command.doc == "README.md" and command.text in section and "--secret" not in words:
            key, value = positional(words)[2:4]
            top, _, rest = key.partition(".")
            config[top] = nested(config.get(top), rest.split("."), value)
    return section, config


def test_own_cluster_settings_render_outputs_of_the_outputs_table():
    section, config = own_cluster()
    run = mockrun.run_main(stack="mycluster", config={k: json.dumps(v) for k, v in config.items()})
    assert "`pulumi stack output` shows the [stack\noutputs](#stack-outputs)" in section
    assert set(run.outputs) <= documented_outputs()


def test_own_cluster_quotes_belens_error_without_a_name():
    section, config = own_cluster()
    quoted = re.search(r"```text\n(.*?)```", section, re.S).group(1).rstrip("\n")
    del config["belen:cluster"]["name"]
    with pytest.raises(SettingsError) as error:
        load_settings(StackConfig.from_strings({k: json.dumps(v) for k, v in config.items()}), "mycluster")
    assert str(error.value) == quoted


# --- README's tables ------------------------------------------------------------------------------

def documented_outputs() -> set[str]:
    table = (PROJECT_DIR / "README.md").read_text().split("## Stack outputs")[1].split("\n## ")[0]
    return {name for row in table.splitlines() if row.startswith("| `") for name in re.findall(r"`(\w+)`", row.split("|")[1])}


def test_outputs_table_names_every_output_of_the_shipped_stacks():
    read = {"cloud": {"organization/belen/homelab": json.loads(HOMELAB_OUTPUTS.read_text())}}
    read.update(dict.fromkeys(("dev", "rct", "prd"), {"organization/belen/ops": json.loads(OPS_OUTPUTS.read_text())}))
    renders = [render_stack(stack, stack_outputs=read.get(stack)) for stack in sorted(STACKS)]
    outputs = {name for graph in renders for name in graph.run.outputs}
    assert documented_outputs() == outputs


def documented_settings() -> list[str]:
    """The keys of README's settings table, without `belen:` (`stores[].name`, `storeCredentials.<store>.<credential>`)."""
    table = (PROJECT_DIR / "README.md").read_text().split("## Settings")[1].split("\n## ")[0]
    return [re.match(r"\| `belen:([^`]+)`", row).group(1) for row in table.splitlines() if row.startswith("| `belen:")]


def test_settings_table_rows_are_settings_and_every_area_key_has_a_row():
    """Each row names a setting of the catalog; each setting of an area (`belen:flux.version`) has a row,
    its own, a deeper one, or its area's when the area is one value (`belen:gitAuth`)."""
    from components.settings.catalog import SETTINGS  # the settings code's own declaration of every setting

    rows = documented_settings()
    for row in rows:
        assert resolves(SETTINGS, path_parts(row)), (
            f"README's settings table: belen:{row} is not a setting")
    wanted = [key for key, area in SETTINGS.fields.items() if area.kind != "object"] + [
        f"{key}.{child}" for key, area in SETTINGS.fields.items() if area.kind == "object" for child in area.fields]
    for key in wanted:
        assert any(covers(path_parts(row), key.split(".")) for row in rows), (
            f"README's settings table has no row for belen:{key}")


def resolves(setting, parts: list[str]) -> bool:
    """A row's path (`[]` an item of a list, `<name>` any key of an object or map) names a setting."""
    if not parts or setting.kind == "any":
        return True
    head, rest = parts[0], parts[1:]
    if head == "[]":
        return setting.kind == "list" and resolves(setting.item, rest)
    if setting.kind == "map":
        return resolves(setting.item, rest)
    if setting.kind == "object":
        if head.startswith("<"):
            return any(resolves(child, rest) for child in setting.fields.values())
        return head in setting.fields and resolves(setting.fields[head], rest)
    return False


def path_parts(row: str) -> list[str]:
    return re.findall(r"\[\]|<[^>]+>|[^.\[\]]+", row)


def covers(row: list[str], key: list[str]) -> bool:
    """The row documents the key: one path is a prefix of the other (`<name>` in the row matches any name)."""
    return all(r == k or r.startswith("<") for r, k in zip(row, key))


# --- README as a front door: short, each deep topic told once --------------------------------------

README = PROJECT_DIR / "README.md"


def test_readme_is_a_front_door_of_at_most_400_lines():
    assert len(README.read_text().splitlines()) <= 400


# A topic's mark, and the one doc that holds it (a line of a table or a command).
TOLD_ONCE = {
    "the stack outputs table": (r"^\| `sealingKeyFingerprints` \|", "README.md"),
    "the settings table": (r"^\| `belen:cluster\.name` \|", "README.md"),
    "the drill's scenarios": (r"^\| `1-primary` \|", "docs/drill.md"),
    "the drill's stand-ins": (r"^\| Python language host \|", "docs/drill.md"),
    "preflight's checks": (r"^ *\| `sealed-secrets` \|", "docs/replica.md"),
    "tools.keys' usage": (r"^ +python -m tools\.keys check FILE", "docs/keys.md"),
    "the rotation runbook": (r"belen:sealedSecrets\.keyGeneration' 2", "docs/keys.md"),
    "the refused chart values": (r"^\| `sealedSecrets` \| `fullnameOverride` \|", "docs/charts.md"),
    "the readers' RBAC": (r"^## The readers' RBAC", "docs/tls-distribution.md"),
    "a lost cluster": (r"^\*\*The cluster was lost\*\*", "docs/faults.md"),
    "the render's files": (r"^- `resources\.json`", "docs/render.md"),
    "the toolchain's cold build time": (r"\b(minutes|an hour|hours) on 2 cores\b", "docs/drill.md"),
}


@pytest.mark.parametrize("topic", TOLD_ONCE)
def test_each_deep_topic_is_told_once(topic):
    mark, home = TOLD_ONCE[topic]
    found = [f"{path.relative_to(PROJECT_DIR)}:{number}" for path in DOCS
             for number, line in enumerate(path.read_text().split("\n"), 1) if re.search(mark, line)]
    assert [place.rsplit(":", 1)[0] for place in found] == [home], f"{topic}: {found}"


def test_sealing_with_kubeseal_is_shown_once():
    assert [c.id for c in COMMANDS if "kubeseal --cert" in c.text] == ["README.md:" + str(next(
        c.line for c in COMMANDS if c.doc == "README.md" and c.text.startswith("kubeseal --cert")))]


def test_no_command_writes_a_key_or_certificate_into_the_project_folder():
    """Stack outputs go through a pipe (`<(…)`, `|`) or into a private temporary folder (`"$d/…"`)."""
    for command in COMMANDS:
        lexer = shlex.shlex(command.text, posix=True, punctuation_chars="|&;<>()")
        lexer.whitespace_split = True
        words: list[str] = []  # the simple command so far
        tokens = list(lexer)
        for index, token in enumerate(tokens):
            if token in ("|", "&&", ";", "||", "<(", ")"):
                words = []
            elif token in (">", ">>") and words[:3] == ["pulumi", "stack", "output"]:
                target = tokens[index + 1]
                assert target.startswith("$"), f"{command.id}: `{command.text}` writes {target} in the project folder"
            else:
                words.append(token)


LINK = re.compile(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)")


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    found = set()
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def test_every_link_between_the_docs_resolves():
    for path in DOCS:
        for target, anchor in LINK.findall(path.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            linked = (path.parent / target).resolve() if target else path
            assert linked.exists(), f"{path.relative_to(PROJECT_DIR)}: ({target}) does not exist"
            if anchor:
                assert anchor in anchors(linked), f"{path.relative_to(PROJECT_DIR)}: {target}#{anchor}: no such heading"


def test_a_setting_required_only_within_an_optional_area_says_so():
    """One truth: `belen:flux.git.url` is required once `belen:flux` is set, and `belen:flux` is optional (the
    quickstart sets the URL as optional), so its row says "required with `belen:flux`"."""
    from components.settings.catalog import SETTINGS

    table = (PROJECT_DIR / "README.md").read_text().split("## Settings")[1].split("\n## ")[0]
    checked = 0
    for row in table.splitlines():
        cells = row.split(" | ")
        key = re.match(r"\| `belen:([^`]+)`", row)
        if not key or "(required" not in cells[2] or re.search(r"\[\]|<", key.group(1)) or "." not in key.group(1):
            continue
        top = key.group(1).split(".")[0]
        if not SETTINGS.fields[top].required:
            assert "required with" in cells[2], f"belen:{key.group(1)}: {cells[2]} — say what it is required with"
            checked += 1
    assert checked


def test_prerequisites_name_each_program_belen_runs_with_the_versions_the_drill_pins():
    """README's Prerequisites: the Pulumi CLI, kubectl and kubeseal, each at the version the test bed builds."""
    section = README.read_text().split("## Prerequisites")[1].split("\n## ")[0]
    pins = dict(line.split("=", 1) for line in (PROJECT_DIR / "e2e" / "pins.env").read_text().splitlines()
                if re.match(r"^[A-Z_]+=", line))
    rows = {row.split(" | ")[0].strip("| "): row for row in section.splitlines() if row.startswith("| ")}
    for program, pin in (("Pulumi CLI", "PULUMI_VERSION"), ("kubectl", "KUBERNETES_VERSION"),
                         ("kubeseal", "SEALED_SECRETS_VERSION")):
        assert program in rows, f"README's Prerequisites have no row for {program}"
        assert pins[pin] in rows[program], f"{program}: the drill runs {pins[pin]}"
