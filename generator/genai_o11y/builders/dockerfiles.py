"""Dockerfiles (text, from Jinja2 templates): our collector built from the ocb manifest, and the demo."""

from __future__ import annotations

import posixpath

import jinja2

from .. import names as n
from .. import render as render_mod
from ..spec import Spec
from . import ocb

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("genai_o11y", "templates"), undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
GO_VERSION = "1.26"
ALPINE_VERSION = "3.22"
PYTHON_VERSION = "3.11"
#: The collector image's user (not root); the Helm chart gives the gateways' queue volumes this group (fsGroup).
COLLECTOR_UID = 10001


def writable_dirs(spec: Spec) -> list[str]:
    """The directories the collector image's user writes to (volumes are mounted there): both tiers' queues
    and the eval dataset's directory. The image creates them owned by that user, so a fresh Docker volume
    mounted on one takes that owner (a volume on a path the image lacks is root's: the user could not write)."""
    return list(dict.fromkeys([spec.collector.queue_directory, spec.gateway.queue_directory, posixpath.dirname(spec.evals.dataset.path)]))


def collector(spec: Spec, source: str) -> str:
    return _ENV.get_template("collector.Dockerfile.j2").render(
        source=source, regenerate=render_mod.regenerate_command(source), version=n.COLLECTOR_VERSION, go_version=GO_VERSION, alpine_version=ALPINE_VERSION,
        dist=ocb.DIST_NAME, local_root=ocb.LOCAL_ROOT_IN_REPO, queue_dirs=" ".join(writable_dirs(spec)), uid=COLLECTOR_UID,
    )


def demo(source: str) -> str:
    return _ENV.get_template("demo.Dockerfile.j2").render(source=source, regenerate=render_mod.regenerate_command(source), python_version=PYTHON_VERSION)
