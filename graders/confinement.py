"""Per-sandbox identities and resource groups: a uid of its own and a cgroup of its own.

Two submissions graded at the same time must not be able to spend each other's limits.  A
process-count limit (``RLIMIT_NPROC``) counts every process of a *user*, so when every sandbox
ran as ``nobody`` one submission that forked until the quota was full stopped every other
sandbox from starting.  Here each sandbox gets:

* a **uid of its own** (:class:`UidLease`), leased from a reserved range (by default
  ``1_800_000_000 + 0..4095``; no account uses such ids) with an exclusive ``flock`` on a file
  in a root-only directory, so grading processes running side by side never share one.  Before
  a lease is handed out, and again when it is returned, every process still running with that
  uid is killed, so nothing a submission left behind can reach the next one;
* a **cgroup of its own** (:class:`Cgroup`) where the kernel lets the grader create one: with
  cgroup v2, ``pids.max`` and ``memory.max`` (swap off) over all processes of the sandbox; with
  the v1 hierarchies, the ``pids`` and ``memory`` controllers.  The worker joins the cgroup
  before it executes anything (see :func:`join_command`), so every process it starts is
  counted.  Without cgroups the per-process rlimits remain the only bound: a submission that
  forks ``N`` processes may then use ``N`` times the memory limit (documented in
  ``docs/grading.md``).

Everything here needs root; an unprivileged grader uses neither (its sandboxes run as the
grader's own user, inside a user namespace when one is available).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import signal
import time
from pathlib import Path

__all__ = ["Cgroup", "CgroupUnavailable", "UidLease", "join_command", "kill_uid"]

UID_BASE = int(os.environ.get("GLMM_SANDBOX_UID_BASE", "1800000000"))
UID_COUNT = 4096
LEASE_DIR = Path(os.environ.get("GLMM_SANDBOX_LEASE_DIR", "/run/glmm-sandbox/uids"))
_CGROUP_ROOT = Path("/sys/fs/cgroup")
_CGROUP_NAME = "glmm-sandbox"


# ============================================================================ uids

def _uids_of_processes() -> dict[int, int]:
    """pid -> uid of every live process this process can see (zombies, which hold nothing and
    run nothing, only wait to be reaped, are left out)."""
    out: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            uid = entry.stat(follow_symlinks=False).st_uid
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
            if state not in (b"Z", b"X"):
                out[int(entry.name)] = uid
    return out


def kill_uid(uid: int, rounds: int = 20) -> int:
    """SIGKILL every process running as ``uid`` (repeated, as a fork may race a kill).

    Returns how many processes were signalled; never touches uid 0 or the caller.
    """
    if uid == 0:
        raise ValueError("refusing to kill every process of uid 0")
    killed = 0
    for _ in range(rounds):
        victims = [pid for pid, owner in _uids_of_processes().items()
                   if owner == uid and pid != os.getpid()]
        if not victims:
            break
        for pid in victims:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        time.sleep(0.01)
    return killed


class UidLease:
    """An exclusive uid from the reserved range, held until :meth:`release` (or process exit)."""

    def __init__(self, uid: int, fd: int) -> None:
        self.uid = uid
        self._fd = fd

    @classmethod
    def acquire(cls) -> UidLease:
        """Lease a free uid; raise ``OSError`` when the lease directory cannot be used."""
        LEASE_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(LEASE_DIR, 0o700)
        start = secrets.randbelow(UID_COUNT)
        for k in range(UID_COUNT):
            uid = UID_BASE + (start + k) % UID_COUNT
            fd = os.open(LEASE_DIR / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                         0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    continue
                raise
            kill_uid(uid)  # leftovers of a grader that died while holding this uid
            return cls(uid, fd)
        raise OSError(errno.EBUSY, f"all {UID_COUNT} sandbox uids are in use")

    def release(self) -> None:
        """Kill whatever still runs as this uid and give the uid back."""
        if self._fd < 0:
            return
        kill_uid(self.uid)
        os.close(self._fd)
        self._fd = -1

    def __del__(self) -> None:  # a lease must not outlive a forgotten sandbox
        with contextlib.suppress(Exception):
            self.release()


# ============================================================================ cgroups

class CgroupUnavailable(OSError):
    """The kernel or the container does not let this process create a cgroup."""


def _own_path(controller: str) -> str:
    """This process's cgroup path in the v1 hierarchy of ``controller`` ("" for v2)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        number, controllers, path = line.split(":", 2)
        if controller == "" and number == "0" and controllers == "":
            return path
        if controller and controller in controllers.split(","):
            return path
    raise CgroupUnavailable(f"no {controller or 'v2'} cgroup for this process")


def _v2_base() -> Path | None:
    """The v2 directory below which sandboxes go (their parent must delegate pids and memory)."""
    if not (_CGROUP_ROOT / "cgroup.controllers").is_file():
        return None
    base = _CGROUP_ROOT / _own_path("").lstrip("/") / _CGROUP_NAME
    return base


class Cgroup:
    """A cgroup (v2, or the v1 ``pids`` + ``memory`` pair) bounding one sandbox's processes."""

    def __init__(self, dirs: list[Path], version: int) -> None:
        self.dirs = dirs
        self.version = version

    @classmethod
    def create(cls, name: str, *, max_processes: int, memory_bytes: int) -> Cgroup:
        """Create the cgroup with its limits; raise :class:`CgroupUnavailable` when impossible."""
        try:
            v2 = _v2_base()
            if v2 is not None:
                return cls._create_v2(v2, name, max_processes, memory_bytes)
            return cls._create_v1(name, max_processes, memory_bytes)
        except CgroupUnavailable:
            raise
        except (OSError, ValueError) as exc:
            raise CgroupUnavailable(str(exc)) from exc

    @classmethod
    def _create_v2(cls, base: Path, name: str, pids: int, memory: int) -> Cgroup:
        if not base.is_dir():
            base.mkdir()
            # a cgroup with processes cannot delegate; the base holds none, only sandboxes
            (base / "cgroup.subtree_control").write_text("+pids +memory")
        enabled = (base / "cgroup.subtree_control").read_text().split()
        if not {"pids", "memory"} <= set(enabled):
            raise CgroupUnavailable("the pids and memory controllers are not delegated here")
        path = base / name
        path.mkdir()
        group = cls([path], 2)
        try:
            (path / "pids.max").write_text(str(pids))
            (path / "memory.max").write_text(str(memory))
            with contextlib.suppress(FileNotFoundError):
                (path / "memory.swap.max").write_text("0")
        except OSError:
            group.remove()
            raise
        return group

    @classmethod
    def _create_v1(cls, name: str, pids: int, memory: int) -> Cgroup:
        dirs: list[Path] = []
        try:
            for controller in ("pids", "memory"):
                mount = _CGROUP_ROOT / controller
                if not (mount / "cgroup.procs").is_file():
                    raise CgroupUnavailable(f"no v1 {controller} hierarchy at {mount}")
                path = mount / _own_path(controller).lstrip("/") / _CGROUP_NAME / name
                path.mkdir(parents=True)
                dirs.append(path)
            (dirs[0] / "pids.max").write_text(str(pids))
            (dirs[1] / "memory.limit_in_bytes").write_text(str(memory))
            with contextlib.suppress(OSError):  # only with swap accounting
                (dirs[1] / "memory.memsw.limit_in_bytes").write_text(str(memory))
        except BaseException:
            cls(dirs, 1).remove()
            raise
        return cls(dirs, 1)

    @property
    def procs_files(self) -> list[str]:
        """The ``cgroup.procs`` files a process writes its pid to, to join."""
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids(self) -> list[int]:
        out: set[int] = set()
        for d in self.dirs:
            with contextlib.suppress(OSError, ValueError):
                out.update(int(p) for p in (d / "cgroup.procs").read_text().split())
        return sorted(out)

    def kill(self) -> None:
        """SIGKILL every process in the cgroup, until it is empty."""
        if self.version == 2:
            with contextlib.suppress(OSError):
                (self.dirs[0] / "cgroup.kill").write_text("1")
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def memory_peak(self) -> int | None:
        """Bytes of memory the cgroup used at most (None when the kernel does not say)."""
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        with contextlib.suppress(OSError, ValueError):
            return int((self.dirs[-1] / name).read_text())
        return None

    def remove(self) -> None:
        """Kill what is left and delete the cgroup directories."""
        self.kill()
        for d in self.dirs:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


def join_command(procs_files: list[str], command: list[str]) -> list[str]:
    """``command`` prefixed by a shell that first moves itself into the cgroup, then execs.

    The shell's pid is the process the grader started, so the worker and everything it ever
    forks are inside the cgroup before any code of the student's runs.
    """
    if not procs_files:
        return command
    script = ('while [ "$1" != -- ]; do echo $$ > "$1" || exit 97; shift; done; shift; '
              'unset PWD OLDPWD; '
              'exec "$@"')
    return ["/bin/sh", "-c", script, "glmm-sandbox-join", *procs_files, "--", *command]
