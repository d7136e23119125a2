"""The real tools we build or look for: our collector, promtool, prometheus, amtool, alertmanager.

Everything we build goes to a cache outside the repository, keyed by what produced it, so a second
run (and CI with a warm cache) reuses it:

    ~/.cache/genai-o11y/otelcol-<version>-<manifest hash>/otelcol-genai-o11y
    ~/.cache/genai-o11y/go-bin/{prometheus,promtool}-<version>
    ~/.cache/genai-o11y/cortex-<version>-<wrapper module hash>/cortex
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import names, render
from .builders import ocb
from .errors import ToolMissing, UserError, exit_code

PROMETHEUS_VERSION = "v0.316.0"  # Prometheus 3.x as a Go module version
BUILDER = f"go.opentelemetry.io/collector/cmd/builder@v{names.COLLECTOR_VERSION}"


def cache_root() -> Path:
    """Absolute, whatever the variables say: the path is handed to `go` and to processes started elsewhere."""
    base = os.environ.get("GENAI_O11Y_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "genai-o11y")
    return Path(base).expanduser().resolve()


def manifest_hash(manifest: dict | None = None) -> str:
    doc = json.loads(json.dumps(manifest or ocb.manifest()))
    doc["dist"].pop("output_path", None)
    doc["local_sources"] = ocb.local_sources_digest()
    for kind in ocb.COMPONENTS:
        for m in doc.get(kind, []):
            m.pop("path", None)  # where the source is does not matter, what it is does
    doc["replaces"] = [r.split(" => ")[0] for r in doc.get("replaces", [])]  # likewise
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]


def collector_dir() -> Path:
    return cache_root() / f"otelcol-{names.COLLECTOR_VERSION}-{manifest_hash()}"


def collector_path() -> Path | None:
    """The built collector for the current manifest: $GENAI_O11Y_OTELCOL, else the cache, else None."""
    env = os.environ.get("GENAI_O11Y_OTELCOL")
    if env:
        return Path(env) if Path(env).is_file() else None
    p = collector_dir() / ocb.DIST_NAME
    return p if p.is_file() else None


def _say(msg: str) -> None:
    print(msg, flush=True)  # make pipes our output (CI, tee): unflushed, progress would arrive at the end


def _mmss(seconds: float) -> str:
    return f"{int(seconds) // 60}m{int(seconds) % 60:02d}s"


# What a first build takes on the reference machine (2 cores, empty Go caches; bench/RESULTS.md), so a
# newcomer knows what the silence is. Later runs reuse the cache and take seconds.
FIRST_BUILD_MINUTES = {"collector": 3, "prometheus": 3, "alertmanager": 1, "k8s": 2, "cortex": 5}
HEARTBEAT_SECONDS = 30


def _run(cmd: list[str], log: Path, env: dict | None = None, cwd: Path | None = None, label: str = "", say=_say) -> None:
    """Run a build step into `log`; while it runs, say every HEARTBEAT_SECONDS that it still does."""
    started = time.monotonic()
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        while True:
            try:
                proc.wait(timeout=HEARTBEAT_SECONDS)
                break
            except subprocess.TimeoutExpired:
                if label:
                    say(f"{label}: still building, {_mmss(time.monotonic() - started)} so far (log: {log})")
    if proc.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-25:])
        raise UserError(f"command failed ({proc.returncode}): {' '.join(cmd)}\nlast lines of {log}:\n{tail}")


def _go() -> str:
    go = shutil.which("go")
    if not go:
        raise ToolMissing("Go is required to build the collector and Prometheus tools (https://go.dev/dl/); 'go' is not on PATH")
    return go


def build_collector(force: bool = False, log=_say) -> Path:
    """Build our distribution with ocb unless the cache already has it for this manifest."""
    existing = collector_path()
    if existing and not force:
        log(f"collector: cached {existing}")
        return existing
    go = _go()
    out = collector_dir()
    work = Path(tempfile.mkdtemp(prefix="ocb-", dir=cache_root() if cache_root().exists() else None))
    cache_root().mkdir(parents=True, exist_ok=True)
    logfile = cache_root() / "collector-build.log"
    logfile.write_text("")
    env = dict(os.environ, GOBIN=str(cache_root() / "go-bin"), GOFLAGS=os.environ.get("GOFLAGS", "-buildvcs=false"))
    builder = cache_root() / "go-bin" / "builder"
    log(f"collector: building {ocb.DIST_NAME} v{names.COLLECTOR_VERSION} with ocb (first build ~{FIRST_BUILD_MINUTES['collector']} min on 2 cores; "
        f"cached in {cache_root()} for later runs; log: {logfile})")
    if not builder.is_file():
        _run([go, "install", BUILDER], logfile, env=env, label="collector", say=log)
    manifest = ocb.manifest(output_path=str(work / "out"), local=str(ocb.local_root()))
    (work / "manifest.yaml").write_text(render.to_yaml(manifest))
    _run([str(builder), "--config", str(work / "manifest.yaml")], logfile, env=env, label="collector", say=log)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(work / "out" / ocb.DIST_NAME, out / ocb.DIST_NAME)
    shutil.rmtree(work, ignore_errors=True)
    log(f"collector: built {out / ocb.DIST_NAME}")
    return out / ocb.DIST_NAME


def go_tool_path(name: str) -> Path | None:
    """prometheus / promtool (v3, built from Go modules) from the cache, else PATH."""
    p = cache_root() / "go-bin" / f"{name}-{PROMETHEUS_VERSION}"
    if p.is_file():
        return p
    found = shutil.which(name)
    return Path(found) if found else None


def amtool_path() -> Path | None:
    """amtool (Debian's prometheus-alertmanager package, or any on PATH)."""
    found = shutil.which("amtool")
    return Path(found) if found else None


def alertmanager_path() -> Path | None:
    """The Alertmanager server: Debian names it prometheus-alertmanager."""
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    return Path(found) if found else None


def alertmanager_supports_url_file(amtool: Path) -> bool:
    """url_file in webhook configs arrived in Alertmanager 0.26."""
    proc = subprocess.run([str(amtool), "--version"], capture_output=True, text=True, timeout=30)
    m = re.search(r"version (\d+)\.(\d+)", proc.stdout + proc.stderr)
    return bool(m) and (int(m.group(1)), int(m.group(2))) >= (0, 26)


def build_prometheus_tools(log=_say) -> dict[str, Path]:
    """Prometheus 3 and promtool, `go install -tags remove_all_sd` (some SD dependencies are not served)."""
    out = {}
    missing = [n for n in ("prometheus", "promtool") if not (cache_root() / "go-bin" / f"{n}-{PROMETHEUS_VERSION}").is_file()]
    if missing:
        go = _go()
        tmp = Path(tempfile.mkdtemp(prefix="gobin-"))
        logfile = cache_root() / "prometheus-build.log"
        cache_root().mkdir(parents=True, exist_ok=True)
        logfile.write_text("")
        log(f"prometheus: building {', '.join(missing)} {PROMETHEUS_VERSION} from Go modules (first build ~{FIRST_BUILD_MINUTES['prometheus']} min on 2 cores; "
            f"cached for later runs; log: {logfile})")
        env = dict(os.environ, GOBIN=str(tmp), GOFLAGS=os.environ.get("GOFLAGS", "-buildvcs=false"))
        _run([go, "install", "-tags", "remove_all_sd"] + [f"github.com/prometheus/prometheus/cmd/{n}@{PROMETHEUS_VERSION}" for n in missing], logfile, env=env,
             label="prometheus", say=log)
        (cache_root() / "go-bin").mkdir(parents=True, exist_ok=True)
        for n in missing:
            shutil.move(str(tmp / n), cache_root() / "go-bin" / f"{n}-{PROMETHEUS_VERSION}")
        shutil.rmtree(tmp, ignore_errors=True)
    for n in ("prometheus", "promtool"):
        out[n] = cache_root() / "go-bin" / f"{n}-{PROMETHEUS_VERSION}"
        log(f"{n}: {out[n]}")
    return out


HELM = ("helm.sh/helm/v3/cmd/helm", "v3.22.0")
KUBECONFORM = ("github.com/yannh/kubeconform/cmd/kubeconform", "v0.8.0")


def _go_tool(name: str, module: tuple[str, str], log=_say) -> Path:
    """A Go tool built once into the cache as <name>-<version>."""
    target = cache_root() / "go-bin" / f"{name}-{module[1]}"
    if target.is_file():
        return target
    go = _go()
    tmp = Path(tempfile.mkdtemp(prefix="gobin-"))
    cache_root().mkdir(parents=True, exist_ok=True)
    logfile = cache_root() / f"{name}-build.log"
    logfile.write_text("")
    log(f"{name}: building {module[1]} from Go modules (first build about a minute; cached for later runs; log: {logfile})")
    _run([go, "install", f"{module[0]}@{module[1]}"], logfile, env=dict(os.environ, GOBIN=str(tmp), GOFLAGS=os.environ.get("GOFLAGS", "-buildvcs=false")),
         label=name, say=log)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(tmp / name), target)
    shutil.rmtree(tmp, ignore_errors=True)
    return target


def k8s_tool_path(name: str) -> Path | None:
    module = {"helm": HELM, "kubeconform": KUBECONFORM}[name]
    p = cache_root() / "go-bin" / f"{name}-{module[1]}"
    return p if p.is_file() else None


def k8s_schema_dir() -> Path:
    from . import k8s_schemas as ks

    return cache_root() / "k8s-schemas" / f"{ks.KUBERNETES[1]}-{ks.OTEL_OPERATOR[1]}-{ks.PROM_OPERATOR[1]}"


def build_k8s_tools(log=_say) -> dict[str, Path]:
    """helm and kubeconform from Go modules, and the schemas kubeconform validates against."""
    from . import k8s_schemas

    out = {"helm": _go_tool("helm", HELM, log), "kubeconform": _go_tool("kubeconform", KUBECONFORM, log)}
    schemas = k8s_schema_dir()
    if not (schemas / ".complete").is_file():
        log(f"k8s schemas: from the Kubernetes OpenAPI spec and the operators' CRDs into {schemas}")
        k8s_schemas.build(schemas)
    for k, v in {**out, "schemas": schemas}.items():
        log(f"{k}: {v}")
    return out


# Cortex (Apache-2.0), the distributed store the remote_write proof runs (tests/test_cortex.py). `go install`
# refuses a module with replace directives, and Cortex's go.mod has them: we build cmd/cortex from a wrapper
# module of our own (data/cortex-build: go.mod with Cortex's replace/exclude lines, go.sum, tools.go).
CORTEX_BUILD = Path(__file__).parent / "data" / "cortex-build"
CORTEX_MODULE = "github.com/cortexproject/cortex"
# Cortex's own release build (its Makefile's GO_FLAGS): without `slicelabels` the ingesters panic on the
# first push (labels.decodeString: slice bounds out of range), the Prometheus packages it links defaulting
# to another labels layout.
CORTEX_TAGS = "netgo,slicelabels"


def _cortex_build_args() -> list[str]:
    return ["-tags", CORTEX_TAGS, "-ldflags", f"-X main.Version={cortex_version().lstrip('v')}"]


def cortex_version() -> str:
    """The Cortex version the wrapper module requires (typed once, in its go.mod)."""
    m = re.search(rf"^require {re.escape(CORTEX_MODULE)} (v\S+)$", (CORTEX_BUILD / "go.mod").read_text(), re.M)
    if not m:
        raise UserError(f"{CORTEX_BUILD / 'go.mod'}: no `require {CORTEX_MODULE} vX.Y.Z` line")
    return m.group(1)


def cortex_dir() -> Path:
    digest = hashlib.sha256(" ".join(_cortex_build_args()).encode())
    for name in ("go.mod", "go.sum", "tools.go"):
        digest.update(name.encode() + b"\0" + (CORTEX_BUILD / name).read_bytes())
    return cache_root() / f"cortex-{cortex_version()}-{digest.hexdigest()[:12]}"


def cortex_path() -> Path | None:
    """The built Cortex binary: $GENAI_O11Y_CORTEX, else the cache, else None."""
    env = os.environ.get("GENAI_O11Y_CORTEX")
    if env:
        return Path(env) if Path(env).is_file() else None
    p = cortex_dir() / "cortex"
    return p if p.is_file() else None


def build_cortex(log=_say) -> Path:
    """`go build` of Cortex's cmd/cortex in the wrapper module (one ~140 MB binary, every module in it)."""
    existing = cortex_path()
    if existing:
        log(f"cortex: cached {existing}")
        return existing
    go = _go()
    out = cortex_dir()
    cache_root().mkdir(parents=True, exist_ok=True)
    logfile = cache_root() / "cortex-build.log"
    logfile.write_text("")
    work = Path(tempfile.mkdtemp(prefix="cortex-", dir=cache_root()))
    for name in ("go.mod", "go.sum", "tools.go"):
        shutil.copy2(CORTEX_BUILD / name, work / name)
    log(f"cortex: building {CORTEX_MODULE}/cmd/cortex {cortex_version()} (first build ~{FIRST_BUILD_MINUTES['cortex']} min on 2 cores; "
        f"cached in {cache_root()} for later runs; log: {logfile})")
    env = dict(os.environ, GOFLAGS=os.environ.get("GOFLAGS", "-buildvcs=false"))
    _run([go, "build", *_cortex_build_args(), "-o", str(work / "cortex"), f"{CORTEX_MODULE}/cmd/cortex"], logfile, env=env, cwd=work, label="cortex", say=log)
    out.mkdir(parents=True, exist_ok=True)
    shutil.move(str(work / "cortex"), out / "cortex")
    shutil.rmtree(work, ignore_errors=True)
    log(f"cortex: built {out / 'cortex'}")
    return out / "cortex"


def plan(tools: list[str], say=_say) -> list[str]:
    """Say which of `tools` are cached and which a first run builds, with the time each takes, before
    the builds start (a newcomer's first `make run` is otherwise minutes of silence). Returns the ones to build."""
    have = {
        "collector": collector_path,
        "prometheus": lambda: go_tool_path("prometheus") if (cache_root() / "go-bin" / f"promtool-{PROMETHEUS_VERSION}").is_file() else None,
        "alertmanager": lambda: alertmanager_path() if amtool_path() else None,
        "k8s": lambda: k8s_tool_path("helm") if k8s_tool_path("kubeconform") and (k8s_schema_dir() / ".complete").is_file() else None,
        "cortex": cortex_path,
    }
    minutes = FIRST_BUILD_MINUTES
    what = {"collector": f"our collector (ocb, v{names.COLLECTOR_VERSION})", "prometheus": f"Prometheus 3 + promtool ({PROMETHEUS_VERSION})",
            "alertmanager": "Alertmanager + amtool (Debian package)", "k8s": "helm, kubeconform and the Kubernetes schemas",
            "cortex": f"Cortex {cortex_version()} (the remote_write proof)"}
    unknown = [t for t in tools if t not in have]
    if unknown:
        raise UserError(f"plan: unknown tool(s) {', '.join(unknown)}; known: {', '.join(have)}")
    todo = [t for t in tools if not have[t]()]
    for t in tools:
        verb = "to install" if t == "alertmanager" else "to build"
        say(f"  {what[t]:52} {f'{verb}, ~{minutes[t]} min' if t in todo else 'ready'}")
    if todo:
        total = sum(minutes[t] for t in todo)
        say(f"first run: about {total} min of builds and installs on 2 cores ({cache_root()} keeps them; later runs start in seconds)")
    return todo


def main(argv: list[str] | None = None) -> int:
    """`python -m genai_o11y.toolchain collector|prometheus|path`: used by the Makefile."""
    return exit_code(lambda: _command(argv if argv is not None else sys.argv[1:]))


def _command(args: list[str]) -> int:
    if args == ["collector"]:
        build_collector()
    elif args == ["prometheus"]:
        build_prometheus_tools()
    elif args == ["k8s"]:
        build_k8s_tools()
    elif args == ["cortex"]:
        build_cortex()
    elif args[:1] == ["plan"]:
        plan(args[1:])
    elif args == ["collector-path"]:
        p = collector_path()
        if not p:
            raise ToolMissing("the collector is not built: run `make collector`")
        print(p)
    else:
        print("usage: python -m genai_o11y.toolchain collector|prometheus|k8s|cortex|collector-path|plan TOOL...", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
