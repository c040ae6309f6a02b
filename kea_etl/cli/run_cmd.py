"""``kea-etl run PIPELINE.yaml``: run a declarative pipeline (see :mod:`kea_etl.pipeline`)."""

from __future__ import annotations

import json
import os
import sys

import click

from kea_etl.cli import main
from kea_etl.errors import KeaEtlError
from kea_etl.terminal import echo


@main.command("run")
@click.argument("pipeline_file", metavar="PIPELINE.yaml")
@click.option("--dry-run", is_flag=True,
              help="Validate the file, then run every step without writing: migrate reports what "
                   "it would send, export checks each server answers, reconcile reads both sides.")
@click.option("--json", "as_json", is_flag=True, help="Print each step's summary as JSON.")
def run_cmd(pipeline_file: str, dry_run: bool, as_json: bool) -> None:
    """Run the steps of PIPELINE.yaml in order (migrate, export, reconcile).

    ${NAME} in the file is replaced by the environment variable NAME (or the file's vars);
    ${NAME:-default} gives a default. Keep secrets in the environment: password_env: KEA_PASSWORD.
    A step that errors (exit 2) stops the pipeline; failed records or differences (exit 1) do not.
    The exit code is the highest of the steps'.

    \b
    Example:
      KEA_URL=unix:///run/kea/kea4.sock kea-etl run pipelines/isc-to-kea.yaml
    """
    from kea_etl.pipeline import load_pipeline, run_pipeline

    try:
        pipeline = load_pipeline(pipeline_file, env=os.environ)
    except KeaEtlError as exc:
        echo(f"Error: {exc}", err=True)
        sys.exit(2)

    def announce(i: int, step: object) -> None:
        kind = getattr(step, "kind", "?")
        line = getattr(step, "line", "?")
        echo(f"[{i + 1}/{len(pipeline.steps)}] {kind} (line {line})"
                   + (" -- dry run" if dry_run else ""), err=True)

    results = run_pipeline(pipeline, dry_run=dry_run, on_step=announce)
    worst = 0
    for res in results:
        worst = max(worst, res.exit_code)
        if as_json:
            echo(json.dumps({"step": res.kind, "exit_code": res.exit_code,
                                   "summary": res.summary}, default=str))
        else:
            status = {0: "ok", 1: "DIFFERENCES/FAILURES", 2: "ERROR"}.get(res.exit_code, "?")
            echo(f"{res.kind}: {status} {_brief(res.kind, res.summary)}")
    if len(results) < len(pipeline.steps):
        echo(f"Stopped after step {len(results)} of {len(pipeline.steps)} (an error above).",
                   err=True)
    sys.exit(worst)


def _brief(kind: str, s: dict[str, object]) -> str:
    if "error" in s:
        return f"-- {s['error']}"
    would = s.get("would_export")
    if kind == "export" and isinstance(would, dict):
        # a dry run: the servers that answered, as a table (was a Python dict on one line)
        rows = [("server", "Kea")] + [(str(k), str(v)) for k, v in would.items()]
        width = max(len(r[0]) for r in rows)
        fams = s.get("families")
        head = ("would export DHCPv" + "/v".join(str(f) for f in fams)
                if isinstance(fams, list) and fams else "would export")
        return f"-- {head} from:\n" + "\n".join(f"  {a:<{width}}  {b}" for a, b in rows)
    loaded, already = s.get("loaded"), s.get("already_present")
    if kind == "migrate" and isinstance(loaded, int) and isinstance(already, int):
        # loaded counts what the target already held too: show each record once
        s = {**s, "loaded": loaded - already}
    keys = {"migrate": ("read", "loaded", "skipped", "failed", "already_present", "conflicts"),
            "reconcile": ("matched", "missing", "extra", "mismatched"),
            "export": ("leases", "would_export")}[kind]
    return " ".join(f"{k}={s[k]}" for k in keys if k in s)
