"""What every rule script does first: log to the rule's log file, cap threads, and
turn a failure into one clear line on the console (the traceback goes to the log)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator

from wmhmap.errors import WmhmapError

THREAD_VARIABLES = (
    "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "nnUNet_n_proc_DA",
)


@contextlib.contextmanager
def rule_script(log_path: str, threads: int = 1, name: str = "wmhmap") -> Iterator[logging.Logger]:
    """Run a rule script's body with logging to ``log_path`` and ``threads`` threads.

    Import ANTs, torch or numpy-heavy modules *inside* the block so the thread caps
    apply to them. On an error the traceback is written to the log and a one-line
    message (the :class:`~wmhmap.errors.InputError` text when it is one) to the
    console, and the script exits with status 1 so Snakemake marks the job failed
    and removes its outputs.
    """
    for var in THREAD_VARIABLES:
        os.environ[var] = str(max(int(threads), 1))
    console = sys.__stderr__
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    with open(log_path, "w", buffering=1) as fh:
        sys.stdout = sys.stderr = fh
        logging.basicConfig(
            stream=fh,
            level=logging.INFO,
            format="%(asctime)s %(levelname)s %(message)s",
            force=True,
        )
        logger = logging.getLogger(name)
        try:
            yield logger
        except WmhmapError as err:
            logger.error("%s", err)
            traceback.print_exc(file=fh)
            if console is not None:
                print(f"wmhmap error: {err}", file=console, flush=True)
            raise SystemExit(1) from None
        except Exception:
            traceback.print_exc(file=fh)
            if console is not None:
                print(f"wmhmap: unexpected failure, see {log_path}", file=console, flush=True)
            raise
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
