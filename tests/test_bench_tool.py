"""tools.bench and tools.floor at their edges (issue 30): a stack that does not render offline (your own,
with its `secure:` values; an invalid one), no drill report, no arguments — one line each and an exit
code, never a traceback."""

from __future__ import annotations

import shutil

from tests.graph import PROJECT_DIR, run_cli
from tools import bench, render


def test_a_stack_that_does_not_render_offline_is_named_and_not_measured(tmp_path, monkeypatch, capsys):
    stacks, tests = tmp_path / "stacks", tmp_path / "tests"
    stacks.mkdir()
    tests.mkdir()
    for folder in ("render-inputs", "stack-outputs"):
        (tests / folder).symlink_to(PROJECT_DIR / "tests" / folder)
    shutil.copy(PROJECT_DIR / "stacks" / "Pulumi.local.yaml", stacks)
    (stacks / "Pulumi.mine.yaml").write_text("config:\n  belen:cluster: {name: mine}\n"
                                             "  belen:kubeconfig: {secure: AAABAKc=}\n")
    (stacks / "Pulumi.broken.yaml").write_text("config:\n  belen:cluster: {name: Not A Label}\n")
    monkeypatch.setattr(bench, "_project_dir", lambda: tmp_path)
    monkeypatch.setattr(render, "STACKS_DIR", stacks)
    bench.bench_chains()
    broken, local, mine = capsys.readouterr().out.splitlines()[1:]
    assert broken == ("     broken: not measured — belen:cluster.name: 'Not A Label' is not a DNS label — set "
                      "belen:cluster.name to a DNS label such as homelab (python -m tools.render names every problem)")
    assert local.startswith("      local: ") and local.endswith(" resources")
    assert mine == ("       mine: not measured — belen:kubeconfig is a secure value in Pulumi.mine.yaml that no "
                    "--config-file supplies — add it to a --config-file")


def test_bench_recovery_without_a_drill_report_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "_project_dir", lambda: tmp_path)
    assert bench.main(["recovery"]) == 1
    assert capsys.readouterr() == ("", "error: no recovery figures: build/e2e/report.json does not exist — run the "
                                       "drill first (./bin/e2e)\n")


def test_floor_without_arguments_is_a_usage_error():
    result = run_cli("-m", "tools.floor")
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr.splitlines()[-1] == ("python -m tools.floor: error: the following arguments are required: "
                                             "OUTPUTS_JSON, NAMESPACES")
