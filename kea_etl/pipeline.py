"""Declarative pipelines: ``kea-etl run PIPELINE.yaml`` composes the same library calls as the CLI.

A pipeline file is YAML::

    name: isc-to-kea
    vars:                       # defaults; the environment overrides them
      OUT: out/isc-to-kea
    steps:
      - migrate:
          sources: [sample-data/dhcpd.leases]
          kea_config: [sample-data/kea-dhcp4.json]
          to: memfile:${OUT}
          report: ${OUT}/report.json
      - reconcile:
          source: sample-data/dhcpd.leases
          kea: ${KEA_URL}
          json: ${OUT}/reconcile.json

``${NAME}`` is replaced by the environment variable ``NAME`` (or the pipeline's ``vars``),
``${NAME:-default}`` falls back to ``default``; a missing variable is an error naming the key and
line. Secrets therefore stay in the environment (``password_env: KEA_PASSWORD``), never in the file.
Every mistake in a pipeline file (unknown step, unknown or missing key, wrong type) is a
:class:`~kea_etl.errors.ConfigError` naming the file, the key and its line. Each step kind is a
small adapter from YAML keys to one library function (``RUNNERS`` in
:mod:`kea_etl._pipeline_steps`); see ``STEP_KEYS`` for what each accepts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kea_etl._pipeline_steps import RUNNERS, STEP_KEYS, Step, StepResult
from kea_etl.errors import ConfigError

__all__ = ["Pipeline", "Step", "StepResult", "load_pipeline", "run_pipeline"]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class Pipeline:
    name: str
    path: str
    steps: tuple[Step, ...]


def _node_to_python(node: yaml.Node, path: str, lines: dict[tuple[str, ...], int],
                    where: tuple[str, ...]) -> Any:
    lines[where] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(f"{path} line {key_node.start_mark.line + 1}: keys must be plain "
                                  "names")
            key = str(key_node.value)
            if key in out:
                raise ConfigError(f"{path} line {key_node.start_mark.line + 1}: key '{key}' is "
                                  "given twice")
            out[key] = _node_to_python(value_node, path, lines, (*where, key))
            lines[(*where, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_node_to_python(v, path, lines, (*where, str(i))) for i, v in enumerate(node.value)]
    return yaml.SafeLoader(  # scalar: let PyYAML resolve int/bool/null the usual way
        "").construct_object(node, deep=True)


def _interpolate(value: Any, env: Mapping[str, str], path: str, line: int, key: str) -> Any:
    if isinstance(value, str):
        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"{path} line {line}: key '{key}' uses ${{{name}}} but the "
                              f"environment variable {name} is not set (and no default given)")
        return _VAR.sub(repl, value)
    if isinstance(value, list):
        return [_interpolate(v, env, path, line, key) for v in value]
    if isinstance(value, dict):
        return {k: _interpolate(v, env, path, line, f"{key}.{k}") for k, v in value.items()}
    return value


def load_pipeline(path: str | Path, *, env: Mapping[str, str] | None = None) -> Pipeline:
    """Parse and validate a pipeline file; raises ConfigError naming the key and line.

    ``env``: the environment ``${NAME}`` is taken from (the CLI passes the process's; library
    code does not read it itself). None: no environment, only the file's ``vars``."""
    path_s = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read pipeline {path_s}: {exc.strerror or exc}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path_s}{where}: not valid YAML: {problem}") from exc
    if root is None:
        raise ConfigError(f"{path_s}: the pipeline file is empty")
    lines: dict[tuple[str, ...], int] = {}
    doc = _node_to_python(root, path_s, lines, ())
    if not isinstance(doc, dict):
        raise ConfigError(f"{path_s} line 1: a pipeline is a mapping with 'name' and 'steps'")
    unknown = set(doc) - {"name", "vars", "steps", "description"}
    for key in sorted(unknown):
        raise ConfigError(f"{path_s} line {lines[(key,)]}: unknown key '{key}' (a pipeline has "
                          "name, description, vars and steps)")
    variables = doc.get("vars") or {}
    if not isinstance(variables, dict):
        raise ConfigError(f"{path_s} line {lines[('vars',)]}: 'vars' must be a mapping")
    scope: dict[str, str] = {str(k): str(v) for k, v in variables.items()}
    environ: Mapping[str, str] = dict(env) if env is not None else {}
    scope.update(environ)
    raw_steps = doc.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        line = lines.get(("steps",), 1)
        raise ConfigError(f"{path_s} line {line}: 'steps' must be a non-empty list")
    steps: list[Step] = []
    for i, raw in enumerate(raw_steps):
        line = lines[("steps", str(i))]
        if not isinstance(raw, dict) or len(raw) != 1:
            raise ConfigError(f"{path_s} line {line}: each step is one mapping like "
                              f"'- migrate: {{...}}' (kinds: {', '.join(sorted(STEP_KEYS))})")
        kind, options = next(iter(raw.items()))
        if kind not in STEP_KEYS:
            raise ConfigError(f"{path_s} line {line}: unknown step '{kind}' "
                              f"(kinds: {', '.join(sorted(STEP_KEYS))})")
        options = options or {}
        if not isinstance(options, dict):
            raise ConfigError(f"{path_s} line {line}: the options of step '{kind}' must be a mapping")
        key_lines = {k: lines[("steps", str(i), kind, k)] for k in options}
        required, optional = STEP_KEYS[kind]
        for k in options:
            if k not in required and k not in optional:
                allowed = ", ".join(sorted(required | optional))
                raise ConfigError(f"{path_s} line {key_lines[k]}: step '{kind}' has no key '{k}' "
                                  f"(it takes: {allowed})")
        for k in sorted(required - set(options)):
            raise ConfigError(f"{path_s} line {line}: step '{kind}' needs the key '{k}'")
        values = {k: _interpolate(v, scope, path_s, key_lines[k], k) for k, v in options.items()}
        steps.append(Step(kind, values, line, key_lines, env=environ))
    name = str(doc.get("name") or Path(path_s).stem)
    return Pipeline(name=name, path=path_s, steps=tuple(steps))


def run_pipeline(pipeline: Pipeline, *, dry_run: bool = False,
                 on_step: Callable[[int, Step], None] | None = None) -> list[StepResult]:
    """Run the steps in order; stop at the first step that ends with exit code 2 (an error).

    A step that finds differences or failed records (exit code 1) does not stop the pipeline:
    the next step (typically ``reconcile``) is what tells the operator how bad it is.
    """
    results: list[StepResult] = []
    for i, step in enumerate(pipeline.steps):
        if on_step is not None:
            on_step(i, step)
        result = RUNNERS[step.kind](step, dry_run)
        results.append(result)
        if result.exit_code >= 2:
            break
    return results
