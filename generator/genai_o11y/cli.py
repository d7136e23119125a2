"""genai-o11y command line: generate | check | validate | spec."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from . import __version__, artifacts, validate
from .errors import UserError
from .spec import DEFAULT_SOURCE, default_text, load


def _source_name(spec_path: str | None) -> str:
    return "the embedded default spec" if spec_path is None else Path(spec_path).name


def _build(spec_path: str | None, go_testdata: bool = False) -> dict[str, str]:
    spec = load(spec_path)
    files = artifacts.build_all(spec, _source_name(spec_path))
    if go_testdata:
        files.update(artifacts.go_testdata(spec, _source_name(spec_path)))
    return files


def redaction_notes(spec) -> list[str]:
    """What the chosen redaction engine cannot do, said where the user looks (never a silent gap)."""
    from .builders import redaction

    if spec.collector.engine != "ottl":
        return []
    return [f"note: collector.engine ottl: {limit}" for limit in redaction.OTTL_LIMITS]


def engine_notes(spec) -> list[str]:
    """Everything the chosen engine cannot do, printed by `generate`: the redaction limits, then
    those of OTel events on log records."""
    from .builders import collector

    if spec.collector.engine != "ottl":
        return []
    return redaction_notes(spec) + [f"note: collector.engine ottl: {limit}" for limit in collector.EVENT_LOGS_OTTL_LIMITS]


def cmd_generate(args: argparse.Namespace) -> int:
    for note in engine_notes(load(args.spec)):
        print(note, file=sys.stderr)
    files = _build(args.spec, args.go_testdata)
    out = Path(args.out)
    changed = []
    for rel, text in files.items():
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_file() and dest.read_text(encoding="utf-8") == text:
            continue
        changed.append(rel)
        tmp = dest.with_name(dest.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(dest)
    print(f"generated {len(files)} files in {out} from {args.spec or DEFAULT_SOURCE}: "
          + (f"{len(changed)} written" if changed else "all up to date"))
    for rel in changed:
        print(f"  {rel}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Fail when the files in --dir differ from a fresh generation (CI's drift check)."""
    out = Path(args.dir)
    if not out.is_dir():
        raise UserError(f"{out}: no such directory (check compares a generated directory with the spec: "
                        f"genai-o11y generate {args.spec or ''} --out {out}".replace("  ", " ") + ")")
    files = _build(args.spec, args.go_testdata)
    stale = []
    for rel, text in files.items():
        dest = out / rel
        have = dest.read_text(encoding="utf-8") if dest.is_file() else None
        if have != text:
            stale.append(rel)
            if have is None:
                print(f"missing: {rel}")
            else:
                diff = difflib.unified_diff(have.splitlines(), text.splitlines(), f"committed/{rel}", f"generated/{rel}", lineterm="", n=1)
                print("\n".join(list(diff)[:40]))
    if stale:
        print(f"\n{len(stale)} generated file(s) are stale; run: genai-o11y generate {args.spec or ''} --out {out}".replace("  ", " "), file=sys.stderr)
        return 1
    print(f"{len(files)} generated files up to date in {out}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    out = Path(args.dir)
    if not out.is_dir():
        raise UserError(f"{out}: no such directory (generate first: genai-o11y generate --out {out})")
    results = validate.run(out)
    for r in results:
        print(f"{r.status:8} {r.name}" + (f": {r.detail}" if r.detail else ""))
    ran = [r for r in results if r.status in ("ok", "failed")]
    missing = [r.name for r in results if r.status == "missing"]
    print(f"\n{len(ran)} validator(s) ran, {len(missing)} missing" + (f" ({', '.join(missing)})" if missing else ""))
    if any(r.status == "failed" for r in results):
        return 1
    if not ran and not missing:
        print(f"nothing validated: {out} holds none of the generated files (generate first: genai-o11y generate --out {out})", file=sys.stderr)
        return 1
    if args.strict and missing:
        return 1
    return 0


def cmd_spec(args: argparse.Namespace) -> int:
    if args.print_default:
        sys.stdout.write(default_text())
        return 0
    if args.check:
        spec = load(args.check)
        print(f"{args.check}: ok ({len(spec.pipeline.stages)} stages, {len(spec.models)} priced models)")
        return 0
    raise UserError("spec: give --print-default or --check FILE")


def cmd_up(args: argparse.Namespace) -> int:
    from . import stack

    return stack.up(args.spec, Path(args.workdir).resolve(), args.scenario, args.baseline_seconds, args.rps, args.exit_when_paged, args.timeout, args.sustain_minutes)


def cmd_gate(args: argparse.Namespace) -> int:
    """The release gate: exit 0 pass, 1 regression / floor / too little evidence, 2 bad input."""
    from . import gate

    spec = load(args.spec)
    base, cand = gate.read([Path(p) for p in args.baseline]), gate.read([Path(p) for p in args.candidate])
    for what, run, paths in (("baseline", base, args.baseline), ("candidate", cand, args.candidate)):
        if not run.results:
            raise UserError(f"--{what}: no eval results in {', '.join(paths)} (eval records or OTLP JSON with gen_ai.evaluation.* attributes)")
    verdicts = gate.compare(spec, base, cand, seed=args.seed)
    confidence = spec.evals.confidence_percent / 100
    sys.stdout.write(gate.text_report(verdicts, base, cand, confidence))
    if args.markdown:
        Path(args.markdown).write_text(gate.markdown_report(verdicts, base, cand, confidence), encoding="utf-8")
    return 0 if gate.passed(verdicts) else 1


def cmd_dataset(args: argparse.Namespace) -> int:
    """Production traces (the eval-dataset pipeline's OTLP JSON files) -> eval cases (JSONL)."""
    import json

    from . import dataset

    if args.action == "schema":
        print(json.dumps(dataset.CASE_SCHEMA, indent=2))
        return 0
    if not args.files:
        raise UserError("dataset build: give the OTLP JSON files the eval-dataset pipeline wrote (evals.dataset.path and its rotated files)")
    spec = load(args.spec)
    floors = {e.name: (e.direction, e.floor) for e in spec.evals.evaluators if e.floor is not None}
    from .builders.sampling import rising_proxies

    cases = dataset.build([Path(f) for f in args.files], floors, tempo_url=spec.backends.tempo.query_url, route=args.route,
                          tenant=args.tenant, signal=args.signal, since=args.since, until=args.until, actions=set(rising_proxies(spec)),
                          service=args.service)
    if not cases:
        raise UserError(f"no request traces in {', '.join(args.files)}" + (" that match the filters" if any(
            (args.route, args.tenant, args.signal, args.since, args.until, args.service)) else "") + ": nothing to build cases from")
    text = dataset.dumps(cases)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
        by: dict[str, int] = {}
        for c in cases:
            for sig in c["signals"]:
                by[sig] = by.get(sig, 0) + 1
        no_question = sum(1 for c in cases if not c["question"])
        print(f"{len(cases)} eval cases -> {args.out}" + (f" ({', '.join(f'{k} {v}' for k, v in sorted(by.items()))})" if by else "")
              + (f"; {no_question} without a question (content not captured) cannot be replayed" if no_question else ""))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The demo app: traffic to the sidecar until stopped (or --requests done)."""
    import signal
    import threading

    from . import instrument
    from .demo import scenarios
    from .demo.app import SupportCopilot

    scenario = scenarios.get(args.scenario)
    if args.replay:
        from .demo import replay

        if not args.results:
            raise UserError("--replay needs --results FILE: where the eval results of the replayed cases go (for genai-o11y gate)")
        cases, skipped = replay.load_cases(Path(args.replay))
        if not cases:
            raise UserError(f"{args.replay}: no case with a question to replay ({skipped} without one: content capture off, or calls that failed first)")
        records = replay.replay(cases, args.scenario, seed=args.seed)
        Path(args.results).write_text(replay.dumps(records), encoding="utf-8")
        print(f"demo: replayed {len(cases)} cases under {scenario.name} -> {len(records)} eval results in {args.results}"
              + (f" ({skipped} cases without a question skipped)" if skipped else ""))
        return 0
    obs = instrument.setup(args.service, endpoint=args.endpoint, set_global=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    app = SupportCopilot(obs, scenario, seed=args.seed, time_scale=args.time_scale)
    print(f"demo: {scenario.describe()} -> {args.endpoint}", flush=True)
    sent = 0
    try:
        while not stop.is_set() and (not args.requests or sent < args.requests):
            app.ask()
            sent += 1
            stop.wait(1 / args.rps)
    except KeyboardInterrupt:
        pass
    finally:
        obs.provider.shutdown()
    ended, delivered = obs.delivery()
    print(f"demo: {sent} requests sent, {delivered} of {ended} spans delivered to {args.endpoint}, {obs.dropped_spans} dropped", flush=True)
    from .demo.run import undelivered_reason

    reason = undelivered_reason(obs, args.endpoint, sent)
    if reason:
        print(f"demo: error: {reason}", file=sys.stderr, flush=True)
        return 1
    return 0


def cmd_webhook(args: argparse.Namespace) -> int:
    """A webhook receiver that prints each Alertmanager notification (the pager/chat stand-in)."""
    import json
    import signal
    import threading

    from .localstack import WebhookReceiver

    def show(note):
        for a in note.alerts:
            print(json.dumps({"receiver": note.receiver.strip("/"), "status": a.get("status"), "alertname": a["labels"].get("alertname"),
                              "severity": a["labels"].get("severity"), "summary": a.get("annotations", {}).get("summary")}), flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with WebhookReceiver(port=args.port, host=args.host, on_notification=show):
        print(f"webhook: listening on {args.host}:{args.port} (/pager, /chat)", flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genai-o11y", description="Observability for LLM applications, generated from one spec.")
    p.add_argument("--version", action="version", version=f"genai-o11y {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write every artifact for a spec (default: the embedded spec)")
    g.add_argument("spec", nargs="?", help="spec file; omitted: the embedded default")
    g.add_argument("--out", default=".", help="output directory (default: .)")
    g.add_argument("--go-testdata", action="store_true", help="also the Go components' testdata/config.yaml (the repository's goldens; make generate and make check pass it)")
    g.set_defaults(func=cmd_generate)

    c = sub.add_parser("check", help="fail if generated files in --dir are stale")
    c.add_argument("spec", nargs="?")
    c.add_argument("--dir", default=".")
    c.add_argument("--go-testdata", action="store_true", help="also the Go components' testdata/config.yaml (the repository's goldens; make generate and make check pass it)")
    c.set_defaults(func=cmd_check)

    v = sub.add_parser("validate", help=f"run the real validators ({', '.join(validate.names())}) on a generated dir")
    v.add_argument("dir")
    v.add_argument("--strict", action="store_true", help="also fail when a validator is missing")
    v.set_defaults(func=cmd_validate)

    u = sub.add_parser("up", help="run the stack locally (collector, Prometheus, Alertmanager, webhook) with the demo and a fault scenario")
    u.add_argument("spec", nargs="?", help="spec file; omitted: the embedded default")
    from .demo.scenarios import SCENARIOS

    u.add_argument("--scenario", default="error_burst", help=f"fault injected after the healthy baseline: {', '.join(SCENARIOS)}")
    u.add_argument("--baseline-seconds", type=int, default=60, help="healthy traffic before the fault (default 60)")
    u.add_argument("--rps", type=float, default=4.0, help="demo requests per second (default 4)")
    u.add_argument("--workdir", default="out/local", help="configs, data and logs of this run (default out/local)")
    u.add_argument("--exit-when-paged", action="store_true", help="stop (exit 0) once the pager receiver got a page; exit 1 if none came within --timeout")
    u.add_argument("--timeout", type=int, default=0, help="give up (exit 1) after this many seconds without a page; 0: run until Ctrl-C, "
                   "or 600 with --exit-when-paged")
    u.add_argument("--sustain-minutes", type=int, default=None, help="override alerting.thresholds.sustain_minutes (LLM baseline alerts fire sooner)")
    u.set_defaults(func=cmd_up)

    gt = sub.add_parser("gate", help="release gate: compare a candidate's eval results with a baseline's (exit 0 pass, 1 regression, 2 bad input)")
    gt.add_argument("spec", nargs="?", help="spec file (its evals section); omitted: the embedded default")
    gt.add_argument("--baseline", nargs="+", required=True, metavar="FILE", help="eval records (JSONL) or OTLP JSON of the baseline")
    gt.add_argument("--candidate", nargs="+", required=True, metavar="FILE", help="the same for the candidate")
    gt.add_argument("--markdown", metavar="FILE", help="also write the report as Markdown (for a pull-request comment)")
    gt.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0: the same input gives the same report)")
    gt.set_defaults(func=cmd_gate)

    ds = sub.add_parser("dataset", help="production traces -> eval cases: `dataset build FILE...`, `dataset schema`")
    ds.add_argument("action", choices=["build", "schema"])
    ds.add_argument("files", nargs="*", metavar="FILE", help="OTLP JSON files written by the eval-dataset pipeline (evals.dataset)")
    ds.add_argument("--spec", help="spec file (evaluator floors, the Tempo URL); omitted: the embedded default")
    ds.add_argument("--out", default="-", help="where to write the cases (JSON Lines; default: stdout)")
    ds.add_argument("--route", help="only cases of this route")
    ds.add_argument("--service", help="only cases whose request came from this service (service.name)")
    ds.add_argument("--tenant", help="only cases of this tenant (as exported: hashed)")
    from .dataset import SIGNALS

    ds.add_argument("--signal", help=f"only cases kept for this reason: {', '.join(SIGNALS)}")
    ds.add_argument("--since", help="only requests that started at or after this time (ISO 8601, UTC if no zone)")
    ds.add_argument("--until", help="only requests that started before this time")
    ds.set_defaults(func=cmd_dataset)

    d = sub.add_parser("demo", help="run the demo app (support copilot) against a sidecar")
    d.add_argument("--endpoint", default="127.0.0.1:4317")
    d.add_argument("--service", default="support-copilot")
    d.add_argument("--scenario", default="healthy")
    d.add_argument("--rps", type=float, default=2.0)
    d.add_argument("--requests", type=int, default=0, help="stop after this many (0: run until stopped)")
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--time-scale", type=float, default=1.0, help="stand-in model latency scale (0: no sleeping)")
    d.add_argument("--replay", metavar="CASES", help="answer these frozen eval cases (dataset build output) in process instead of sending traffic")
    d.add_argument("--results", metavar="FILE", help="with --replay: write the eval results as eval records (the gate's input)")
    d.set_defaults(func=cmd_demo)

    w = sub.add_parser("webhook", help="receive Alertmanager webhooks and print them (pager/chat stand-in)")
    w.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; compose passes 0.0.0.0 inside its network)")
    w.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    w.set_defaults(func=cmd_webhook)

    s = sub.add_parser("spec", help="print the default spec or check a spec file")
    s.add_argument("--print-default", action="store_true")
    s.add_argument("--check", metavar="FILE")
    s.set_defaults(func=cmd_spec)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
