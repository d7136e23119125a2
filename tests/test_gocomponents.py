"""Our collector components: one Go module (processor/, connector/, internal/) laid out as in
collector-contrib. Each component has metadata.yaml, a README with its status and config table, and
config tests over testdata/: config.yaml (generated from the default spec by `make generate`, the
config as shipped), example.yaml (the unit tests' fixture) and invalid/*.yaml (refused, naming the
field). One `go test ./...` runs them all."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
import yaml

from genai_o11y import artifacts, names, render, toolchain
from genai_o11y.builders import collector as collector_builder
from genai_o11y.builders import ocb
from genai_o11y.spec import load
from harness import make_spec

ROOT = ocb.local_root()
COMPONENTS = sorted(ocb.LOCAL_COMPONENTS.items())
ENV = {"genai_normalise": "GENAI_NORMALISE_CONFIG", "genai_redaction": "GENAI_REDACTION_CONFIG", "genai_usage": "GENAI_USAGE_CONFIG",
       "genai_queue_storage": "GENAI_QUEUE_STORAGE_CONFIG"}


def test_go_test_passes_on_the_shipped_and_on_another_specs_configs(tmp_path):
    """`go test ./...` once over the module: every component's tests on its generated testdata
    config, then again with the configs of a spec that differs from the default (ottl-free native
    engine, more tenants, other routes), passed by environment variable."""
    go = toolchain._go()
    first = subprocess.run([go, "test", "-count=1", "./..."], cwd=ROOT, capture_output=True, text=True, timeout=900, env=dict(os.environ, GOFLAGS="-mod=readonly"))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert all(f"ok  \t{ocb.LOCAL_MODULE}/{pkg}" in first.stdout for _t, pkg in COMPONENTS), first.stdout
    spec = make_spec({"cardinality.max_tenants": 9, "pipeline.routes": ["billing", "faq", "refunds"]})
    env = dict(os.environ, GOFLAGS="-mod=readonly")
    for rel, text in artifacts.go_testdata(spec, "a test spec").items():
        ctype = next(t for t, pkg in COMPONENTS if rel.startswith(f"{ocb.LOCAL_ROOT_IN_REPO}/{pkg}/"))
        (tmp_path / f"{ctype}.yaml").write_text(text)
        env[ENV[ctype]] = str(tmp_path / f"{ctype}.yaml")
    other = subprocess.run([go, "test", "-count=1", "-v", "./..."], cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert other.returncode == 0, other.stdout[-3000:] + other.stderr[-3000:]
    assert "--- PASS: TestGeneratedConfigLoads" in other.stdout


def test_one_module_pinned_to_the_distributions_release():
    """Go picks the highest version any module asks for: ours must not pull a newer collector."""
    assert sorted(p.relative_to(ROOT).as_posix() for p in ROOT.rglob("go.mod")) == ["go.mod"]
    gomod = (ROOT / "go.mod").read_text()
    assert gomod.startswith(f"module {ocb.LOCAL_MODULE}\n")
    pins = re.findall(r"^\s+(go\.opentelemetry\.io/collector/\S+|github\.com/open-telemetry/\S+) (v\S+)", gomod, re.M)
    assert len(pins) >= 10
    allowed = {f"v{names.COLLECTOR_VERSION}", f"v{names.COLLECTOR_CORE_STABLE_VERSION}"}
    assert {v for _m, v in pins} <= allowed, [p for p in pins if p[1] not in allowed]


def _stability_in_factory(text: str) -> tuple[str, dict[str, list[str]]]:
    """(type, {level: [signals]}) as factory.go declares them."""
    ctype = re.search(r'component\.MustNewType\("([a-z_]+)"\)', text).group(1)
    found: dict[str, list[str]] = {}
    for fn, level in re.findall(r"\.With([A-Za-z]+)\([A-Za-z]+, component\.StabilityLevel([A-Za-z]+)\)", text):
        signal = re.sub(r"(?<!^)([A-Z])", r"_\1", fn).lower()  # TracesToMetrics -> traces_to_metrics
        found.setdefault(level.lower(), []).append(signal)
    if "extension.NewFactory(" in text:  # an extension's stability is NewFactory's last argument
        found.setdefault(re.search(r"component\.StabilityLevel([A-Za-z]+),\s*\)", text).group(1).lower(), []).append("extension")
    return ctype, found


@pytest.mark.parametrize("ctype, pkg", COMPONENTS)
def test_metadata_matches_the_factory_and_the_readme(ctype, pkg):
    d = ROOT / pkg
    meta = yaml.safe_load((d / "metadata.yaml").read_text())
    declared_type, stability = _stability_in_factory((d / "factory.go").read_text())
    assert meta["type"] == declared_type == ctype
    assert meta["status"]["class"] == pkg.split("/")[0]
    assert {k: sorted(v) for k, v in meta["status"]["stability"].items()} == {k: sorted(v) for k, v in stability.items()}
    readme = (d / "README.md").read_text()
    assert readme.startswith(f"# {ctype} {meta['status']['class']}\n")
    for level, signals in meta["status"]["stability"].items():
        assert re.search(rf"^\| Stability \| {level}: {', '.join(signals)}\s*\|$", readme, re.M), f"{pkg}/README.md: the status table says {level}: {signals}"


@pytest.mark.parametrize("ctype, pkg", COMPONENTS)
def test_readme_has_a_row_for_every_config_key(ctype, pkg):
    """By construction: every top-level key of the component's Config struct has a row in the
    README's configuration table."""
    d = ROOT / pkg
    body = re.search(r"^type Config struct \{\n(.*?)^\}", (d / "config.go").read_text(), re.S | re.M).group(1)
    keys = re.findall(r'mapstructure:"([a-z_]+)', body)
    assert len(keys) >= 2
    readme = (d / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    missing = [k for k in keys if not any(re.search(rf"`{k}(`|\[|\.)", cell) for cell in rows)]
    assert not missing, f"{pkg}/README.md: no configuration row for {missing}"


@pytest.mark.parametrize("ctype, pkg", COMPONENTS)
def test_testdata_holds_the_shipped_config_an_example_and_invalid_ones(ctype, pkg):
    """config.yaml is the component's section of the committed collector config (generated from the
    default spec), so `go test` runs on what ships; invalid/ has cases that name what they expect."""
    td = ROOT / pkg / "testdata"
    shipped = yaml.safe_load((td / "config.yaml").read_text())
    committed = yaml.safe_load((ROOT.parents[2] / artifacts.COLLECTOR_CONFIG).read_text()) if (ROOT.parents[2] / artifacts.COLLECTOR_CONFIG).is_file() else collector_builder.build(load())
    section = {**committed["processors"], **committed["connectors"], **{k.split("/")[0]: v for k, v in committed["extensions"].items()}}[ctype]
    assert shipped == render.confmap_unescape({**section, **({"salt": artifacts.TESTDATA_SALT} if ctype == "genai_redaction" else {})})
    assert (td / "example.yaml").is_file()
    invalid = sorted((td / "invalid").glob("*.yaml"))
    assert len(invalid) >= 1 and all("# want: " in f.read_text() for f in invalid)


def test_the_package_ships_every_source_file_of_our_components():
    """An installed genai-o11y builds its collector from the copy inside the package."""
    import tomllib

    root = ROOT.parent  # the package directory
    globs = tomllib.loads((root.parents[1] / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["genai_o11y"]
    shipped = {f for g in globs for f in root.glob(g)}  # setuptools' globs: `*` stays within a directory
    files = [f for f in ROOT.rglob("*") if f.is_file()]
    assert len(files) >= 30
    assert not [f.relative_to(root) for f in files if f not in shipped]
