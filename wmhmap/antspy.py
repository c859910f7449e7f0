"""ANTsPy, imported without the parts wmhmap never calls.

``import ants`` (ANTsPy 0.6) takes 3.4 s on two cores, and every Snakemake job is a
fresh process that pays it again. Half of it is ``ants.learn``, ``ants.plotting``,
``ants.contrib`` and ``ants.deeplearn``, which pull in scikit-learn, statsmodels and
matplotlib at import time (measured with ``python -X importtime -c "import ants"``).
wmhmap uses none of them (N4, registration, transforms, resampling, Atropos, mutual
information), so :func:`load_ants` imports ANTsPy with those four subpackages left
empty, and ``ants.math.quantile`` (statsmodels, 1.1 s) replaced by functions that
import it on their first call: 0.9 s in all. If ``ants`` is already imported (by the
caller), it is returned as is.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

UNUSED_SUBPACKAGES = ("ants.learn", "ants.plotting", "ants.contrib", "ants.deeplearn")
"""ANTsPy subpackages that only add names to ``ants`` and are never used by wmhmap."""


DEFERRED = {
    "ants.math.quantile": (
        "ilr",
        "rank_intensity",
        "quantile",
        "regress_poly",
        "regress_components",
        "get_average_of_timeseries",
        "compcor",
        "bandpass_filter_matrix",
    )
}
"""ANTsPy modules imported only when one of their functions is first called."""


def _deferred(module: str, name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        real = sys.modules.get(f"{module}__real")
        if real is None:
            package, leaf = module.rsplit(".", 1)
            origin = importlib.util.find_spec(package)
            assert origin is not None and origin.submodule_search_locations is not None
            path = f"{next(iter(origin.submodule_search_locations))}/{leaf}.py"
            spec = importlib.util.spec_from_file_location(f"{module}__real", path)
            assert spec is not None and spec.loader is not None
            real = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = real
            spec.loader.exec_module(real)
        return getattr(real, name)(*args, **kwargs)

    call.__name__ = name
    return call


def load_ants() -> Any:
    """The ``ants`` module (ANTsPy), imported without :data:`UNUSED_SUBPACKAGES`."""
    if "ants" in sys.modules:
        return sys.modules["ants"]
    stubs = [name for name in UNUSED_SUBPACKAGES if name not in sys.modules]
    for name in stubs:
        stub = types.ModuleType(name, "left out by wmhmap.antspy (see its docstring)")
        stub.__all__ = []  # type: ignore[attr-defined]
        sys.modules[name] = stub
    for module, names in DEFERRED.items():
        if module not in sys.modules:
            stub = types.ModuleType(module, "imported on first use by wmhmap.antspy")
            for name in names:
                setattr(stub, name, _deferred(module, name))
            stub.__all__ = list(names)  # type: ignore[attr-defined]
            sys.modules[module] = stub
            stubs.append(module)
    try:
        import ants
    except BaseException:
        for name in stubs:
            sys.modules.pop(name, None)
        raise
    return ants


REPRODUCIBLE_SEED = 20251122
"""The random seed of ANTs' metric sampling when registrations must be reproducible."""


def reproducible_registration(seed: int = REPRODUCIBLE_SEED) -> None:
    """Make this process's ANTs registrations bit-for-bit reproducible.

    ANTs samples the metric at random points (a fresh seed per call unless one is
    given) and sums it over ITK threads in a varying order, so two runs of the same
    registration differ (measured with 2 threads and a fixed seed: affine entries up
    to 0.03 apart). A fixed seed *and* one ITK thread make them identical. The thread
    count is read when ITK starts: the caller must also set
    ``ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=1`` before the first ANTs call (rule scripts
    do it by running with one thread, see :func:`registration_threads`).
    """
    load_ants().config._random_seed = int(seed)


def registration_threads(threads: int, reproducible: bool) -> int:
    """Threads for a job that registers images: one when it must be reproducible.

    >>> registration_threads(4, reproducible=True), registration_threads(4, False)
    (1, 4)
    """
    return 1 if reproducible else max(int(threads), 1)


@contextlib.contextmanager
def registration_script(
    log_path: str, threads: int, *, reproducible: bool
) -> Iterator[logging.Logger]:
    """:func:`wmhmap.logs.rule_script` for a rule that registers images: with
    ``reproducible`` it runs on one thread and fixes ANTs' seed."""
    from wmhmap.logs import rule_script

    with rule_script(log_path, registration_threads(threads, reproducible)) as log:
        if reproducible:
            reproducible_registration()
        yield log


@contextlib.contextmanager
def private_tempdir() -> Iterator[str]:
    """Point :mod:`tempfile` at a folder of its own for the block, then delete it.

    Some ANTsPy functions (``ants.atropos``: its posterior images ``antsr*probNN.nii.gz``)
    write files under the temporary folder and never remove them; on a cohort they pile
    up by the hundred in /tmp. Inside this block they land in a private folder that is
    removed afterwards.
    """
    import tempfile

    previous = tempfile.tempdir
    with tempfile.TemporaryDirectory(prefix="wmhmap-ants-") as folder:
        tempfile.tempdir = folder
        try:
            yield folder
        finally:
            tempfile.tempdir = previous
