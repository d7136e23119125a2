"""The committed artifacts for the default spec are what the generator writes now (CI's drift check)."""

from __future__ import annotations

import os
import subprocess
import sys

from genai_o11y import artifacts
from genai_o11y.spec import load


def test_committed_artifacts_are_fresh(repo):
    files = {**artifacts.build_all(load(), "the embedded default spec"), **artifacts.go_testdata(load(), "the embedded default spec")}
    stale = [rel for rel, text in files.items() if not (repo / rel).is_file() or (repo / rel).read_text() != text]
    assert not stale, f"stale generated files {stale}: run `make generate` and commit"


def test_check_command_detects_drift(tmp_path):
    cli = [sys.executable, "-m", "genai_o11y"]
    subprocess.run(cli + ["generate", "--out", str(tmp_path)], check=True, capture_output=True)
    ok = subprocess.run(cli + ["check", "--dir", str(tmp_path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    cfg = tmp_path / artifacts.COLLECTOR_CONFIG
    cfg.write_text(cfg.read_text().replace("limit_mib: 400", "limit_mib: 401"))
    bad = subprocess.run(cli + ["check", "--dir", str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "limit_mib: 401" in bad.stdout and "stale" in bad.stderr


def test_check_after_the_spec_file_was_renamed_compares_content(tmp_path):
    """Renaming the spec marked every file stale (their headers name the spec file): only content counts,
    and a content change under the new name is still caught."""
    from genai_o11y.spec import default_text

    cli = [sys.executable, "-m", "genai_o11y"]
    old, new, out = tmp_path / "team-spec.yaml", tmp_path / "spec.yaml", tmp_path / "out"
    old.write_text(default_text())
    subprocess.run(cli + ["generate", str(old), "--out", str(out)], check=True, capture_output=True)
    old.rename(new)
    ok = subprocess.run(cli + ["check", str(new), "--dir", str(out)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    named = [rel for rel in artifacts.build_all(load(), "x") if "team-spec.yaml" in (out / rel).read_text()]
    assert named and f"{len(named)} of them name another spec file in their header (team-spec.yaml" in ok.stdout
    new.write_text(default_text().replace("memory_limit_mib: 400", "memory_limit_mib: 401"))
    bad = subprocess.run(cli + ["check", str(new), "--dir", str(out)], capture_output=True, text=True)
    assert bad.returncode == 1 and "limit_mib: 401" in bad.stdout and "stale" in bad.stderr


def test_check_advice_regenerates_what_it_compared(tmp_path):
    """The printed command fixes the drift check found: with --go-testdata it regenerates the Go testdata
    too (else make check reported the same drift forever), and a directory generated from a spec file,
    checked without it, is named with the spec its headers give (regenerating it from the default spec
    would throw the team's settings away). Found by a new user."""
    from genai_o11y.spec import default_text

    cli = [sys.executable, "-m", "genai_o11y"]
    spec, out = tmp_path / "genai-o11y.yaml", tmp_path / "my-deploy"
    spec.write_text(default_text().replace("mode: redacted", "mode: metadata-only"))
    subprocess.run(cli + ["generate", str(spec), "--out", str(out)], check=True, capture_output=True)
    bad = subprocess.run(cli + ["check", "--dir", str(out)], capture_output=True, text=True)
    assert bad.returncode == 1
    assert f"{out} was generated from genai-o11y.yaml (its files' headers), not from the default spec" in bad.stderr
    assert f"genai-o11y check <path to genai-o11y.yaml> --dir {out}" in bad.stderr
    assert "run: genai-o11y generate --out" not in bad.stderr  # regenerating from the default spec is not advised
    (tmp_path / "repo").mkdir()
    go = subprocess.run(cli + ["check", str(spec), "--dir", str(tmp_path / "repo"), "--go-testdata"], capture_output=True, text=True)
    assert go.returncode == 1 and f"run: genai-o11y generate {spec} --out {tmp_path / 'repo'} --go-testdata" in go.stderr
    assert "was generated from" not in go.stderr


def test_generate_twice_gives_identical_bytes(tmp_path):
    cli = [sys.executable, "-m", "genai_o11y"]
    a, b = tmp_path / "a", tmp_path / "b"
    for d, seed in ((a, "1"), (b, "2")):  # two processes with different string hashing: set order never leaks into output
        subprocess.run(cli + ["generate", "--out", str(d)], check=True, capture_output=True, env={**os.environ, "PYTHONHASHSEED": seed})
    for rel in artifacts.build_all(load(), "x"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes()


def test_validate_says_which_validators_ran(tmp_path, otelcol):
    cli = [sys.executable, "-m", "genai_o11y"]
    subprocess.run(cli + ["generate", "--out", str(tmp_path)], check=True, capture_output=True)
    ok = subprocess.run(cli + ["validate", str(tmp_path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ok       otelcol validate" in ok.stdout and "validator(s) ran" in ok.stdout
    assert "ok       otelcol validate (gateway)" in ok.stdout
    for rel, typo in ((artifacts.COLLECTOR_CONFIG, "load_balancing:"), (artifacts.GATEWAY_CONFIG, "otlp_grpc/tempo:")):
        cfg = tmp_path / rel
        good = cfg.read_text()
        assert typo in good
        cfg.write_text(good.replace(typo, typo[:-1] + "_typo:", 1))
        bad = subprocess.run(cli + ["validate", str(tmp_path)], capture_output=True, text=True)
        assert bad.returncode == 1 and f"failed   otelcol validate{' (gateway)' if rel == artifacts.GATEWAY_CONFIG else ''}" in bad.stdout, bad.stdout
        cfg.write_text(good)
    # the generated chart: rendered and every manifest through kubeconform (where make k8s-tools built them)
    from genai_o11y import toolchain
    from genai_o11y.builders import helm

    if toolchain.k8s_tool_path("helm") and toolchain.k8s_tool_path("kubeconform"):
        assert "ok       helm template + kubeconform (the chart): " in ok.stdout and "Invalid: 0" in ok.stdout, ok.stdout
        values = tmp_path / helm.CHART / "values.yaml"
        values.write_text(values.read_text() + "\nunknownTopLevelKey: 1\n")  # the strict values schema refuses it
        bad = subprocess.run(cli + ["validate", str(tmp_path)], capture_output=True, text=True)
        assert bad.returncode == 1 and "failed   helm template + kubeconform (the chart): helm template failed" in bad.stdout, bad.stdout
    else:
        assert "missing  helm template + kubeconform (the chart): helm and kubeconform not built (make k8s-tools)" in ok.stdout


def test_validate_reports_a_missing_directory(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "genai_o11y", "validate", str(tmp_path / "nope")], capture_output=True, text=True)
    assert proc.returncode == 2 and "no such directory" in proc.stderr and "Traceback" not in proc.stderr


def test_check_reports_a_missing_directory_in_one_line(tmp_path):
    """It printed a `missing:` line per generated file instead."""
    proc = subprocess.run([sys.executable, "-m", "genai_o11y", "check", "--dir", str(tmp_path / "nope")], capture_output=True, text=True)
    assert proc.returncode == 2 and not proc.stdout, proc.stdout
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"error: {tmp_path / 'nope'}: no such directory") and f"genai-o11y generate --out {tmp_path / 'nope'}" in line


def test_validate_help_lists_the_validators_it_runs(tmp_path):
    """The help said `schemas`, which validate never ran: it lists what a run reports, nothing else."""
    import re

    from genai_o11y import validate

    text = subprocess.run([sys.executable, "-m", "genai_o11y", "--help"], capture_output=True, text=True, check=True).stdout
    listed = re.search(r"validate\s+run the real validators \((.*?)\) on a", " ".join(text.split())).group(1)
    assert listed == ", ".join(validate.names())
    assert [r.name for r in validate.run(tmp_path)] == validate.names()  # each one reports under that name


def test_the_default_specs_header_gives_the_readmes_commands(repo):
    """The commented default (spec --print-default) says how to use it: the README's quick-start commands
    (it said --out deploy/, the repository's own generated files)."""
    import re

    from genai_o11y.spec import default_text

    header = "".join(line for line in default_text().splitlines(keepends=True) if line.startswith("#")).split("apiVersion")[0]
    said = re.findall(r"`(genai-o11y [^`]+)`", default_text().split("\napiVersion", 1)[0])
    assert len(said) >= 3, header
    readme = (repo / "README.md").read_text().split("## Quick start with your own spec", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    quick = {" ".join(line.split("#")[0].replace(".venv/bin/", "").replace(" > ", " > ").split()) for line in readme.splitlines()}
    for cmd in said:
        assert " ".join(cmd.split()) in quick, (cmd, quick)


def test_ci_runs_the_readme_commands_as_written(repo):
    """.ci/run runs the README's two commands with no flag the README does not give a user, and make run
    builds only what it runs (helm, kubeconform and the k8s schemas belong to make test)."""
    import re

    readme = (repo / "README.md").read_text()
    block = readme.split("## Two commands", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip().startswith("make ")]
    assert commands == ["make run", "make test"]
    ci = [line.strip() for line in (repo / ".ci" / "run").read_text().splitlines() if re.match(r"\s*make ", line)]
    assert ci[0].startswith("make test") and ci[1] == "make run UP_ARGS=--exit-when-paged", ci
    assert "`make run UP_ARGS=--exit-when-paged`" in readme  # the flag CI adds is one the README documents
    makefile = (repo / "Makefile").read_text()
    run_deps = re.search(r"^run: (.*)$", makefile, re.M).group(1).split()
    assert {"collector", "prometheus", "alertmanager"} <= set(run_deps)
    assert not {"tools", "k8s-tools", "helm-render"} & set(run_deps), run_deps


def test_the_installed_package_works_outside_a_clone(repo, tmp_path):
    """What `pip install genai-o11y` gives, run from elsewhere: the wheel alone (no repository beside it)
    generates, finds the collector built from the clone's sources (the same cache key: every Go source
    ships in the package) and runs its help; nothing reads the repository's files."""
    import zipfile

    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(repo)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    site = tmp_path / "site"
    with zipfile.ZipFile(next(wheels.glob("genai_o11y-*.whl"))) as z:
        z.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**__import__("os").environ, "PYTHONPATH": str(site)}
    probe = subprocess.run([sys.executable, "-c", "import genai_o11y, sys; from genai_o11y import toolchain; "
                            "print(genai_o11y.__file__); print(toolchain.collector_dir().name)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    where, collector_dir = probe.stdout.split()
    assert where.startswith(str(site)), where  # the wheel's copy, not the clone's
    from genai_o11y import toolchain

    assert collector_dir == toolchain.collector_dir().name  # same manifest and Go sources as the clone's build
    gen = subprocess.run([sys.executable, "-m", "genai_o11y", "generate", "--out", "out"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert gen.returncode == 0, gen.stderr
    assert (elsewhere / "out" / artifacts.COLLECTOR_CONFIG).read_text() == (repo / artifacts.COLLECTOR_CONFIG).read_text()


def test_no_source_code_leaks_into_generated_text():
    """A string concatenation typed inside a literal (`"' + NAME + '..."`) ends up verbatim in a panel
    description; no generated file may carry such a fragment."""
    import re

    leak = re.compile(r"""['"] \+ [A-Za-z_][A-Za-z0-9_.]* \+ ['"]""")
    files = artifacts.build_all(load(), "the embedded default spec")
    bad = {rel: leak.findall(text)[:2] for rel, text in files.items() if leak.search(text)}
    assert not bad, bad


def test_validate_fails_when_it_validated_nothing(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "genai_o11y", "validate", "--strict", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "nothing validated" in proc.stderr, proc.stdout + proc.stderr


def test_files_from_a_users_spec_say_how_to_regenerate_them(tmp_path):
    """`make generate` regenerates from the embedded default spec: a file made from the user's spec names
    the CLI command with that spec instead (a newcomer followed the wrong one)."""
    spec = tmp_path / "my-spec.yaml"
    from genai_o11y.spec import default_text

    spec.write_text(default_text())
    files = artifacts.build_all(load(str(spec)), "my-spec.yaml")
    wrong = [rel for rel, text in files.items() if "make generate" in text]
    assert not wrong, wrong
    assert "Regenerate: genai-o11y generate my-spec.yaml --out <this directory>" in files[artifacts.COLLECTOR_CONFIG]
    assert "make generate" in artifacts.build_all(load(), "the embedded default spec")[artifacts.COLLECTOR_CONFIG]


def test_the_readme_names_every_test_file(repo):
    """The README's table of proofs lists every test file (a new file without a line fails here)."""
    readme = (repo / "README.md").read_text()
    missing = [f.name for f in sorted((repo / "tests").glob("test_*.py")) if f"`{f.name}`" not in readme]
    assert not missing, f"README's Tests table lacks {missing}"


def test_the_readme_layout_names_every_module(repo):
    """The Layout section names every module and subpackage of genai_o11y and of its builders (a new module
    without a line fails here; found by a new user: three were missing). Per-board dashboard modules and
    the demo's are described together."""
    import re

    readme = (repo / "README.md").read_text()
    start = readme.index("## Layout")
    layout = readme[start:readme.index("```", readme.index("```", start) + 3)]
    pkg = repo / "generator" / "genai_o11y"
    missing = []
    for where in (pkg, pkg / "builders"):
        for p in sorted(where.iterdir()):
            if p.name.startswith(("__", ".")) or p.name == "__pycache__" or not (p.suffix == ".py" or p.is_dir()):
                continue
            name = p.name + ("/" if p.is_dir() else "")
            if not re.search(r"(?<![\w])" + re.escape(name) + ("" if p.is_dir() else r"(?![\w])"), layout):
                missing.append(str(p.relative_to(pkg)))
    assert not missing, f"README's Layout lacks {missing}"



def test_output_piped_into_head_ends_quietly(tmp_path):
    """`genai-o11y generate ... | head` printed a BrokenPipeError traceback (a platform engineer's trial)."""
    proc = subprocess.run(f"{sys.executable} -m genai_o11y generate --out {tmp_path / 'out'} | head -1", shell=True,
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.startswith("generated ") and proc.stderr == "", proc.stderr
    # a reader that leaves before the first line (the writer's every write fails)
    proc = subprocess.run(f"{sys.executable} -m genai_o11y spec --print-default | true", shell=True, capture_output=True, text=True, timeout=120)
    assert proc.stderr == "", proc.stderr


def test_check_names_files_the_spec_no_longer_generates(tmp_path):
    """Regenerating after gateway.enabled: true -> false left the gateway's config and chart template
    behind, and check said everything was up to date (a platform engineer's trial): it names them, lists
    every differing file at the end, and fails."""
    from genai_o11y.spec import default_text

    cli = [sys.executable, "-m", "genai_o11y"]
    spec, out = tmp_path / "genai-o11y.yaml", tmp_path / "deploy"
    spec.write_text(default_text())
    subprocess.run(cli + ["generate", str(spec), "--out", str(out)], check=True, capture_output=True)
    assert (out / artifacts.GATEWAY_CONFIG).is_file()
    spec.write_text(default_text().replace("gateway:\n  enabled: true", "gateway:\n  enabled: false"))
    assert "enabled: false" in spec.read_text()
    subprocess.run(cli + ["generate", str(spec), "--out", str(out)], check=True, capture_output=True)
    left = sorted(rel for rel in artifacts.build_all(load(), "x") if rel not in artifacts.build_all(load(str(spec)), "x"))
    assert artifacts.GATEWAY_CONFIG in left and all((out / rel).is_file() for rel in left)
    bad = subprocess.run(cli + ["check", str(spec), "--dir", str(out)], capture_output=True, text=True)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    for rel in left:
        assert f"not generated from this spec any more: {rel} (remove it)" in bad.stdout and f"  not generated any more: {rel}" in bad.stderr
    assert f"remove the {len(left)} file(s) not generated any more" in bad.stderr
    for rel in left:
        (out / rel).unlink()
    ok = subprocess.run(cli + ["check", str(spec), "--dir", str(out)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
