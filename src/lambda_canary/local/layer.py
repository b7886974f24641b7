"""The stack's layer built as `sam build` builds it, and the packages Lambda's Python runtime itself provides.

`sam build` builds an `AWS::Serverless::LayerVersion` with `BuildMethod: python3.x` by copying its
ContentUri into `python/` and installing the packages its requirements.txt names (with their
dependencies) beside it; Lambda puts that `python/` directory on the function's path after its own code.
The local runtime does the same with this interpreter's pip, so a package the layer's requirements.txt
does not name is missing in the workers, as it would be on AWS. A build takes a few seconds, once: it is
kept in a cache directory keyed by a hash of the layer's files and this interpreter
(`$CANARY_LAYER_CACHE`, else `~/.cache/lambda-canary/layers`). Each change of the layer's files makes a new
build (tens of MB with its packages): builds of the same layer unused for a day are removed, the newest
KEEP_BUILDS always kept, and never one a running local runtime uses (it holds a shared lock on the build's
IN_USE file until it exits).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


class LayerBuildError(RuntimeError):
    """pip could not install what the layer's requirements.txt names."""


# What Lambda's Python runtime has besides the standard library: boto3 and what it needs (/var/runtime).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
KEEP_BUILDS = 3  # of each layer, the most recently used, whatever their age
UNUSED_SECONDS = 24 * 3600  # an older build unused this long is removed, unless a running runtime holds it
IN_USE = ".in-use"
_held: dict[Path, int] = {}  # the builds this process uses: their IN_USE file, locked shared until it exits


def cache_root() -> Path:
    configured = os.environ.get("CANARY_LAYER_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lambda-canary" / "layers"


def layer_key(content_dir: Path) -> str:
    """A hash of every file of the layer's source (requirements.txt included) and of this interpreter."""
    digest = hashlib.sha256(f"{sys.version}|{sys.platform}|{sys.executable}".encode())
    for path in sorted(_files(content_dir)):
        digest.update(path.relative_to(content_dir).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build_layer(content_dir: Path, cache: Path | None = None) -> Path:
    """The layer's directory (its `python/` inside), built unless the cache has it already."""
    cache = cache or cache_root()
    target = cache / f"{content_dir.name}-{layer_key(content_dir)}"
    if (target / "python").is_dir():
        target.touch()  # used now: its modification time says when it was last used
        _hold(target)
        return target
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=cache))
    try:
        python = staging / "python"
        for path in _files(content_dir):
            destination = python / path.relative_to(content_dir)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
        requirements = content_dir / "requirements.txt"
        if requirements.exists():
            _pip_install(requirements, python)
        try:
            staging.rename(target)  # atomic: another process building the same layer may have won
        except OSError:
            if not (target / "python").is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _hold(target)
    prune(cache, content_dir.name, keep=target)
    return target


def _hold(build: Path) -> None:
    if build not in _held:
        descriptor = os.open(build / IN_USE, os.O_RDONLY | os.O_CREAT, 0o644)
        fcntl.flock(descriptor, fcntl.LOCK_SH)
        _held[build] = descriptor


def prune(cache: Path, layer_name: str, keep: Path, now: float | None = None) -> list[Path]:
    """Remove the builds of `layer_name` beyond the KEEP_BUILDS most recently used that nobody used for
    UNUSED_SECONDS (never `keep`, the build just made); return what was removed."""
    now = time.time() if now is None else now
    name = re.compile(re.escape(layer_name) + r"-[0-9a-f]{16}")  # its builds only, not those of "core-extra"
    builds = sorted(
        (path for path in cache.iterdir() if name.fullmatch(path.name) and path.is_dir() and path != keep),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    old = [path for path in builds[KEEP_BUILDS - 1 :] if now - path.stat().st_mtime > UNUSED_SECONDS]
    return [path for path in old if _remove_unless_held(path)]


def _remove_unless_held(build: Path) -> bool:
    """Remove a build no running local runtime holds; False when one does."""
    try:
        descriptor = os.open(build / IN_USE, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return False
    try:
        shutil.rmtree(build, ignore_errors=True)  # locked: a runtime starting now waits, then builds it anew
    finally:
        os.close(descriptor)
    return True


def _pip_install(requirements: Path, target: Path) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--no-compile", "--ignore-installed", "-r", str(requirements), "--target", str(target)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our own pip
    if result.returncode != 0:
        raise LayerBuildError(
            f"building the layer from {requirements} failed (pip install -r {requirements.name} --target; pip "
            "needs its package index the first time, see pip config list):\n" + (result.stderr or result.stdout)[-4000:]
        )


def runtime_packages(directory: Path) -> Path:
    """A directory holding only the packages Lambda's Python runtime provides (links to this interpreter's)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"{name} is not installed: the local runtime provides it as Lambda's runtime does")
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        link = directory / source.name
        if not link.exists():
            link.symlink_to(source, target_is_directory=source.is_dir())
    return directory


def _files(directory: Path) -> list[Path]:
    return [
        path
        for path in directory.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith((".pyc", ".pyo"))
    ]
