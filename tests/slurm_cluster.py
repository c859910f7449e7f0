"""A one-node SLURM cluster on localhost for the tests: munged, slurmctld and slurmd.

Installs Debian's slurm-wlm and munge when they are missing (root and apt-get needed),
writes a slurm.conf for this machine, starts the daemons with their own socket, ports,
pid, state and log files under a private folder, and stops exactly the processes it
started.

One global file: the slurm.conf is also installed as /etc/slurm/slurm.conf while the
cluster runs (and removed after), because the SLURM executor's job step drops
SLURM_CONF before its nested ``srun``, which then only finds the default path. A
slurm.conf that this harness did not write is never touched (the tests skip).

    with LocalSlurm.start(folder) as cluster:
        subprocess.run(["sbatch", "--wrap", "hostname"], env=cluster.env)

Run as a script to keep a cluster up for manual work: python tests/slurm_cluster.py DIR
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("munged", "slurmctld", "slurmd")


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be installed or started on this machine (the tests skip)."""


def install_packages(timeout_s: int = 600) -> None:
    """apt-get install slurm-wlm and munge unless their daemons are already there."""
    if all(shutil.which(d) or Path("/usr/sbin", d).exists() for d in DAEMONS):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SlurmUnavailable(
            "slurm-wlm and munge are not installed and cannot be installed here "
            "(needs root and apt-get): apt-get install slurm-wlm munge"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    done = subprocess.run(install, capture_output=True, text=True, env=env, timeout=timeout_s)
    if done.returncode != 0:  # package lists may be missing on a fresh image
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=300)
        done = subprocess.run(install, capture_output=True, text=True, env=env, timeout=timeout_s)
    if done.returncode != 0:
        raise SlurmUnavailable(f"apt-get install {' '.join(PACKAGES)} failed:\n{done.stderr}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


DEFAULT_CONF = Path("/etc/slurm/slurm.conf")
SLURM_CONF = """\
# written by wmhmap's test harness (tests/slurm_cluster.py)
ClusterName=wmhmaptest
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket={munge_socket}
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# squeue answers for finished jobs this long (the executor's status command)
MinJobAge=600
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
DefMemPerCPU=1000
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""
MARKER = SLURM_CONF.splitlines()[0]


@dataclass
class LocalSlurm:
    """A running one-node cluster; ``env`` points SLURM's commands at it."""

    root: Path
    cpus: int
    memory_mb: int
    processes: dict[str, int] = field(default_factory=dict)
    wrote_default_conf: bool = False

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    @classmethod
    def start(
        cls, root: Path, *, cpus: int = 8, memory_mb: int = 64000, timeout_s: float = 60
    ) -> LocalSlurm:
        """Install if needed, configure and start; raises SlurmUnavailable on failure.

        ``cpus`` and ``memory_mb`` are what the node advertises (config_overrides), so
        the workflow profile's requests fit on a small machine; nothing enforces them.
        """
        install_packages()
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)  # munged runs as the munge user and checks its folders
        cluster = cls(root=root, cpus=cpus, memory_mb=memory_mb)
        try:
            cluster._start_munge()
            cluster._write_conf()
            cluster._start_slurm(timeout_s)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def __enter__(self) -> LocalSlurm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- daemons ---------------------------------------------------------------------

    def _start_munge(self) -> None:
        munge = self.root / "munge"
        munge.mkdir(exist_ok=True)
        shutil.chown(munge, "munge", "munge")
        munge.chmod(0o755)
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True)
            shutil.chown(key, "munge", "munge")
        cmd = [
            "runuser", "-u", "munge", "--", "/usr/sbin/munged", "--force",
            f"--socket={munge / 'munge.socket'}",
            f"--pid-file={munge / 'munged.pid'}",
            f"--log-file={munge / 'munged.log'}",
            f"--seed-file={munge / 'munged.seed'}",
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise SlurmUnavailable(f"munged did not start: {done.stderr.strip()}")
        self.processes["munged"] = self._wait_pid(munge / "munged.pid", "munged", 10)

    def _write_conf(self) -> None:
        if DEFAULT_CONF.exists() and MARKER not in DEFAULT_CONF.read_text():
            raise SlurmUnavailable(
                f"{DEFAULT_CONF} belongs to a real SLURM installation; the test cluster "
                "would replace it (run these tests on a machine without one)"
            )
        (self.root / "state").mkdir(exist_ok=True)
        (self.root / "spool").mkdir(exist_ok=True)
        self.conf.write_text(
            SLURM_CONF.format(
                root=self.root,
                ctld_port=free_port(),
                slurmd_port=free_port(),
                munge_socket=self.root / "munge" / "munge.socket",
                cpus=self.cpus,
                memory_mb=self.memory_mb,
            )
        )
        DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.conf, DEFAULT_CONF)
        self.wrote_default_conf = True

    def _start_slurm(self, timeout_s: float) -> None:
        for name, cmd in (
            ("slurmctld", ["/usr/sbin/slurmctld", "-f", str(self.conf), "-c", "-i"]),
            ("slurmd", ["/usr/sbin/slurmd", "-f", str(self.conf), "-N", "localhost"]),
        ):
            done = subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=30)
            if done.returncode != 0:
                raise SlurmUnavailable(f"{name} did not start: {done.stderr.strip()}")
            self.processes[name] = self._wait_pid(self.root / f"{name}.pid", name, 10)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = subprocess.run(
                ["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, env=self.env
            ).stdout.strip()
            if state in {"idle", "mixed", "allocated"}:
                return
            time.sleep(0.5)
        raise SlurmUnavailable(
            f"the node did not come up in {timeout_s:.0f} s (sinfo: {state!r}); "
            f"see {self.root}/slurmctld.log and slurmd.log"
        )

    def _wait_pid(self, pid_file: Path, name: str, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if pid_file.is_file() and pid_file.read_text().strip():
                return int(pid_file.read_text().split()[0])
            time.sleep(0.1)
        raise SlurmUnavailable(f"{name} wrote no pid file {pid_file}")

    def stop(self, timeout_s: float = 15) -> None:
        """Cancel what is still queued, then stop the daemons this object started."""
        if "slurmctld" in self.processes:
            subprocess.run(["scancel", "--full", "--user", "root"], env=self.env,
                           capture_output=True, timeout=30)  # fmt: skip
        if self.wrote_default_conf:
            DEFAULT_CONF.unlink(missing_ok=True)
            self.wrote_default_conf = False
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.processes.pop(name, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)

    # -- queries ---------------------------------------------------------------------

    def jobs(self) -> list[dict[str, str]]:
        """Every job the controller still knows (MinJobAge keeps finished ones)."""
        out = subprocess.run(
            ["squeue", "-h", "-t", "all", "-o", "%i|%j|%T|%C|%1000k"],
            capture_output=True, text=True, env=self.env, check=True,
        ).stdout  # fmt: skip
        keys = ("id", "name", "state", "cpus", "comment")
        rows = [[v.strip() for v in line.split("|")] for line in out.splitlines()]
        return [dict(zip(keys, row, strict=True)) for row in rows]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child counts as gone
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/wmhmap-slurm")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # kill stops it cleanly
    with LocalSlurm.start(folder) as cluster:
        print(f"export SLURM_CONF={cluster.conf}   (Ctrl-C stops the cluster)")
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
