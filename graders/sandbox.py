"""Run an untrusted student submission in a separate, restricted process.

The submission (a ``.py`` file or a Jupyter notebook) is never imported into the grading
process.  A :class:`Sandbox` starts a worker process running the standalone script
``graders/_runner.py`` (its module docstring documents the JSON-lines protocol) and talks to it
over two dedicated pipes; the student's stdout/stderr are separate pipes, so printing cannot
forge a reply.  Only plain data crosses back, and every reply is re-validated here: JSON yields
exact builtin types, tagged arrays are rebuilt with ``numpy.frombuffer`` from raw bytes after the
dtype, shape and size have been checked, so float/ndarray subclasses, objects with a rigged
``__eq__`` or pickles can never reach a check.

Isolation is decided once per grading run from an explicit policy (:func:`set_isolation`,
``--isolation``; threat model in ``docs/grading.md``), strongest first:

* ``chroot`` -- as root with ``unshare(1)`` available: new PID, network, mount, IPC and UTS
  namespaces; inside them the runner (still root there) assembles a new root holding only the
  system directories (``/usr``, ``/lib*``, ``/bin``, a few ``/etc`` files, ``/dev/null`` & co., a
  fresh ``/proc``, system site-/dist-packages covered), a private size-limited ``/tmp``, the work
  directory as a size-limited tmpfs holding a copy of the submission (nothing the student writes
  reaches the grader's disk), the interpreter's tree (read-only, its site-packages covered) and
  the allowed packages bound read-only one by one; it chroots there and drops to the sandbox's own
  uid before any student code runs.  The runner, pid 1 of the namespace, then forks: the
  student's code runs in the child while pid 1 stays a minimal init (signals and the CPU limit
  behave normally; killing it ends the namespace and every process in it).  As an unprivileged
  user with user namespaces the same, without the uid change (``userns``);
* ``namespaces`` -- the same without chroot: private ``/tmp`` and the project / submission
  directories covered with empty read-only tmpfs;
* ``setuid`` -- root without namespaces: the runner drops to the sandbox's own uid;
* ``plain`` -- an unprivileged grader without namespaces: the worker runs as the grader's user
  (it can read the grader's files); never as root (refused).

As root every sandbox leases **a uid of its own** and, where the kernel allows, **a cgroup of its
own** (``graders.confinement``): one submission's processes cannot spend another's process quota
or memory, and whatever it leaves running is killed with it.  ``auto`` takes the strongest level
that works, except that official grading requires ``chroot``; a level that does not work stops
the run (:class:`IsolationUnavailable`), it is never replaced by a weaker one.  A worker that
cannot start is retried, then :class:`SandboxUnavailable` (a grader problem, never a zero).

In every mode the worker gets resource limits (CPU, address space, processes, open files, file
size), ``no_new_privs``, its own session/process group, a minimal environment (``PATH``, ``LANG``, ``HOME``/
``TMPDIR`` = its working directory, single-threaded BLAS), ``python -I -S -B`` and a fresh working
directory holding only a copy of the submission.  ``sys.path`` of the worker is the standard
library only; numpy, scipy, pandas (and their dependencies) are reached through an allow-list
finder that looks only for those top-level names in their site-packages directory, so our
editable-installed packages (``reference``, ``graders``, ``glmm_exercises``), whose finder is
installed by a ``.pth`` file that ``-S`` never processes, are not importable; an import hook also
blocks them (and anything the exercise forbids) by name and reports ``forbidden_import``.

A crash, timeout, ``SystemExit`` or killed worker fails only the call that was running; the next
call starts a new worker, which reloads the submission.  The sandbox is not thread-safe.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import importlib.util
import json
import math
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graders.confinement import Cgroup, CgroupUnavailable, UidLease, join_command, kill_uid
from graders.notebook import SUPPORTED_SUFFIXES, NotebookError, read_cells
from graders.submission_files import UnsafeSubmission, read_regular_file

__all__ = [
    "ISOLATION_CHOICES",
    "ISOLATION_ENV",
    "Budget",
    "CallBatch",
    "CallOutcome",
    "IsolationUnavailable",
    "Limits",
    "LoadOutcome",
    "RngSeed",
    "Sandbox",
    "SandboxError",
    "SandboxUnavailable",
    "SubmissionSandboxes",
    "default_policy",
    "isolation_selected",
    "probe_isolation",
    "require_official_isolation",
    "select_isolation",
    "set_isolation",
    "use_isolation",
]

RUNNER = Path(__file__).with_name("_runner.py")
SANDBOX_UID = 65534
SANDBOX_GID = 65534
#: Top-level packages the worker may import from site-packages (everything else is the stdlib).
ALLOWED_PACKAGES = ("numpy", "scipy", "pandas", "dateutil", "tzdata", "pytz", "six")
#: Always blocked: our own packages hold the reference implementation and the graders.
ALWAYS_FORBIDDEN = ("reference", "graders", "glmm_exercises")
MAX_RESTARTS = 20
START_ATTEMPTS = 3  # a worker that cannot start is retried (its start runs no student code)
#: Imported once by the isolation probe of a chroot mode (~1 s): the chroot must hold every
#: shared library and data file the allowed stack needs, not just numpy's.
_PROBE_IMPORTS = ("pandas", "scipy.linalg")
STARTUP_SECONDS = 60.0
_RAW_OUTPUT_KEPT = 64 * 1024
_MAX_DEPTH = 64
_DTYPE_RE = re.compile(r"^[<>|=]?(b1|[iu][1248]|f[248])$")


class SandboxError(ValueError):
    """The sandbox cannot be used as asked (missing submission, unsupported argument, ...)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission's worker (defaults overridable per exercise)."""

    call_seconds: float = 10.0  # wall time per call (also the limit for loading the submission)
    total_seconds: float = 300.0  # wall time for the whole submission, restarts included
    cpu_seconds: int = 60  # RLIMIT_CPU of a worker
    memory_bytes: int = 2 << 30  # RLIMIT_AS
    output_bytes: int = 8 << 20  # max bytes of one returned value (stdout kept: 1/8 of this)
    max_processes: int = 64  # RLIMIT_NPROC (when running as an unprivileged user)
    max_open_files: int = 64  # RLIMIT_NOFILE
    file_bytes: int = 64 << 20  # RLIMIT_FSIZE; also the size of the writable work directory
    #                             and /tmp when the worker has its own mount namespace

    def __post_init__(self) -> None:
        for name in ("call_seconds", "total_seconds", "cpu_seconds", "memory_bytes",
                     "output_bytes", "max_processes", "max_open_files", "file_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise SandboxError(f"Limits.{name} must be a positive number, not {value!r}")
        if self.max_open_files < 16:
            raise SandboxError("Limits.max_open_files must be at least 16 (Python needs a few)")


@dataclass(frozen=True)
class RngSeed:
    """An argument that becomes ``numpy.random.default_rng(seed)`` inside the worker."""

    seed: int


@dataclass(frozen=True)
class LoadOutcome:
    """Result of loading a submission (running its top level / its notebook cells)."""

    status: str  # ok | syntax_error | import_error | forbidden_import | crashed | timeout | empty
    message: str
    functions: tuple[str, ...] = ()
    traceback: str = ""
    stdout: str = ""
    warnings: tuple[str, ...] = ()  # e.g. notebook cells that raised (the others still ran)
    runtime: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class CallOutcome:
    """Result of one call of a student function; ``value`` is validated plain data."""

    status: str  # ok | error | timeout | crashed | missing | not_implemented | invalid_output
    #              | forbidden_import | output_too_large | unavailable (the grader's problem)
    #              | not_run (call_many: an earlier call of the request ended the worker)
    value: Any = None
    message: str = ""
    traceback: str = ""
    stdout: str = ""
    runtime: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# ============================================================================ isolation

@dataclass(frozen=True)
class _Mode:
    name: str  # "namespaces" | "userns" | "setuid" | "plain"
    prefix: tuple[str, ...]  # command put before the interpreter
    uid: int | None  # not None: the runner drops to a uid of its own (root only; see confinement)
    mounts: bool  # runner builds a private file-system view (private /tmp, hidden directories)
    chroot: bool = False  # ... and chroots into a root holding only the system directories

    @property
    def level(self) -> str:
        """The isolation level as the ``--isolation`` option names it."""
        if self.chroot:
            return "chroot"
        return "namespaces" if self.name in ("namespaces", "userns") else self.name


#: ``--isolation`` choices, strongest first ("auto" picks; see :func:`select_isolation`).
ISOLATION_LEVELS = ("chroot", "namespaces", "setuid", "plain")
ISOLATION_CHOICES = ("auto", *ISOLATION_LEVELS)


class IsolationUnavailable(SandboxError):
    """The isolation the grading run asks for cannot be set up on this machine (fail closed)."""


class SandboxUnavailable(SandboxError):
    """A sandbox worker could not be started, even after retries: a grader-side problem."""


def _candidate_modes() -> list[_Mode]:
    """Every mode this process could use, strongest first.  As root, never ``plain``: student
    code must not run as root."""
    unshare = shutil.which("unshare")
    ns: tuple[str, ...] = ("--pid", "--net", "--ipc", "--uts", "--mount", "--fork", "--mount-proc")
    if unshare and _supports(unshare, "--kill-child"):  # util-linux >= 2.32
        ns = (*ns, "--kill-child")
    modes = []
    if os.geteuid() == 0:
        if unshare:
            prefix = (unshare, *ns, "--")
            modes.append(_Mode("namespaces", prefix, SANDBOX_UID, True, True))
            modes.append(_Mode("namespaces", prefix, SANDBOX_UID, True, False))
        modes.append(_Mode("setuid", (), SANDBOX_UID, False))
        return modes
    if unshare:
        prefix = (unshare, "--user", "--map-root-user", *ns, "--")
        modes.append(_Mode("userns", prefix, None, True, True))
        modes.append(_Mode("userns", prefix, None, True, False))
    modes.append(_Mode("plain", (), None, False))
    return modes


def _supports(tool: str, option: str) -> bool:
    try:
        help_text = subprocess.run([tool, "--help"], capture_output=True, text=True, timeout=10,
                                   env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"}).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return option in help_text


_ROOT_PREFIX = "glmm-sandbox-"


def _sweep_stale_roots() -> None:
    """Delete sandbox directories (older than an hour) left by grading processes that died."""
    base = Path(tempfile.gettempdir())
    for path in base.glob(f"{_ROOT_PREFIX}*-*"):
        pid_text = path.name[len(_ROOT_PREFIX):].split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            if time.time() - path.stat().st_mtime < 3600:
                continue  # maybe a grader in another PID namespace sharing this /tmp
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue


@functools.cache
def _cgroups_available() -> str:
    """"" when this process can give each sandbox a cgroup, else why not (checked once)."""
    if os.geteuid() != 0:
        return "not root"
    try:
        Cgroup.create(f"probe-{os.getpid()}", max_processes=8, memory_bytes=1 << 30).remove()
    except CgroupUnavailable as exc:
        return str(exc) or "cgroups cannot be created here"
    return ""


@functools.cache
def _try_mode(mode: _Mode) -> str:
    """"" when ``mode`` works here (a worker starts and imports the allowed stack), else why not."""
    _sweep_stale_roots()
    lease = group = None
    root = None
    try:
        uid = None
        if mode.uid is not None:
            lease = UidLease.acquire()
            uid = lease.uid
        root = _make_root(None, b"", mode, uid)
        if not _cgroups_available():
            group = Cgroup.create(f"probe-{os.getpid()}-{secrets.token_hex(4)}",
                                  max_processes=Limits().max_processes,
                                  memory_bytes=Limits().memory_bytes)
        worker = _Worker(mode, root, Limits(), (), stdout_cap=1024, probe=True, uid=uid,
                         cgroup=group)
        worker.start(STARTUP_SECONDS)
        worker.stop()
        return ""
    except (_WorkerFailed, OSError) as exc:
        return str(exc) or type(exc).__name__
    finally:
        if group is not None:
            group.remove()
        if lease is not None:
            lease.release()
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


def _modes_at(level: str) -> list[_Mode]:
    return [m for m in _candidate_modes() if m.level == level]


def select_isolation(policy: str = "auto", *, official: bool = False) -> _Mode:
    """The sandbox mode for a grading run, decided once from an explicit policy (fail closed).

    ``policy`` is ``"auto"`` or one of :data:`ISOLATION_LEVELS`.  ``auto`` takes the strongest
    level that works here, except that **official grading** (``official=True``: ``--all``,
    batch, Gradescope) accepts only ``chroot`` (new namespaces and a root holding only the
    system directories); a named level is used exactly, never replaced by a weaker one.

    Raises:
        IsolationUnavailable: the policy cannot be met here; the message says what is missing
            and how to accept a weaker level explicitly.
        SandboxError: an unknown policy name.
    """
    if policy not in ISOLATION_CHOICES:
        raise SandboxError(f"unknown isolation {policy!r}; choose one of {', '.join(ISOLATION_CHOICES)}")
    root = os.geteuid() == 0
    if policy == "plain" and root:
        raise IsolationUnavailable("--isolation plain would run student code as root; as root use "
                                   "chroot, namespaces or setuid")
    if policy == "setuid" and not root:
        raise IsolationUnavailable("--isolation setuid needs the grader to run as root; use "
                                   "chroot, namespaces or plain")
    levels = [policy] if policy != "auto" else ["chroot"] if official else list(ISOLATION_LEVELS)
    reasons = []
    for level in levels:
        for mode in _modes_at(level):
            why = _try_mode(mode)
            if not why:
                return mode
            reasons.append(f"{level} ({mode.name}): {why}")
        if not _modes_at(level):
            reasons.append(f"{level}: {'unshare(1) is not installed' if level != 'plain' else 'not allowed'}")
    detail = "; ".join(reasons)[:600]
    if policy == "auto" and official:
        raise IsolationUnavailable(
            "official grading needs the namespace + chroot sandbox, which does not work here "
            f"({detail}); grade where unshare(1) and mount namespaces are allowed, or accept weaker "
            "isolation explicitly with --isolation namespaces|setuid (see docs/grading.md)")
    if policy == "auto":
        raise IsolationUnavailable(f"no sandbox mode works on this machine ({detail})")
    raise IsolationUnavailable(f"--isolation {policy} does not work here ({detail}); choose "
                               "another level (see docs/grading.md)")


_SELECTED: _Mode | None = None
_CONSENTED = False  # _SELECTED was asked for by name, or chosen for official grading


def set_isolation(policy: str = "auto", *, official: bool = False) -> str:
    """Decide the mode for every sandbox this process starts from now on; returns its description.

    Raises what :func:`select_isolation` raises.
    """
    global _SELECTED, _CONSENTED
    _SELECTED = select_isolation(policy, official=official)
    _CONSENTED = policy != "auto" or official
    return _describe(_SELECTED, Limits())


def use_isolation(level: str) -> None:
    """Use the mode of ``level`` without probing (a batch worker, after its parent has probed).

    A worker that then cannot start is a grader problem (:class:`SandboxUnavailable`), never a
    reason to run weaker.
    """
    global _SELECTED, _CONSENTED
    modes = _modes_at(level)
    if not modes:
        raise IsolationUnavailable(f"isolation level {level!r} is not available in this process")
    _SELECTED, _CONSENTED = modes[0], True


#: Environment variable naming the default ``--isolation`` policy (``auto`` when unset), e.g. for
#: a course server that has decided, once, to accept a weaker level.
ISOLATION_ENV = "GLMM_ISOLATION"


def default_policy() -> str:
    """The ``--isolation`` default: ``$GLMM_ISOLATION`` when set, else ``auto``."""
    policy = os.environ.get(ISOLATION_ENV, "").strip() or "auto"
    if policy not in ISOLATION_CHOICES:
        raise SandboxError(f"{ISOLATION_ENV}={policy!r} is not an isolation level; choose one of "
                           f"{', '.join(ISOLATION_CHOICES)} or unset it")
    return policy


def require_official_isolation() -> None:
    """Before official grading: keep the level the run decided explicitly, else apply the default
    policy (:func:`default_policy`), which for ``auto`` insists on the namespace + chroot sandbox
    (raises :class:`IsolationUnavailable` where it does not work)."""
    global _SELECTED, _CONSENTED
    if _SELECTED is None or not (_CONSENTED or _SELECTED.level == "chroot"):
        policy = default_policy()
        _SELECTED, _CONSENTED = select_isolation(policy, official=True), True


def isolation_selected() -> str | None:
    """The level set by :func:`set_isolation` / :func:`use_isolation` (None when not decided)."""
    return None if _SELECTED is None else _SELECTED.level


def _probe() -> tuple[_Mode, tuple[str, ...]]:
    """The mode sandboxes of this process use: the one decided for the run, else the strongest."""
    if _SELECTED is not None:
        return _SELECTED, ()
    return select_isolation("auto"), ()


def probe_isolation() -> str:
    """Find (once per process) the strongest isolation that works here and describe it."""
    mode, _ = _probe()
    return _describe(mode, Limits())


def _describe(mode: _Mode, limits: Limits) -> str:
    group = mode.uid is not None and not _cgroups_available()
    scope = "per submission (cgroup)" if group else "per process (rlimits)"
    lim = (f"limits: memory {limits.memory_bytes / 2**30:.1f} GiB {scope}, "
           + (f"{limits.max_processes} processes, " if mode.name != "plain" else "")
           + f"CPU {limits.cpu_seconds} s per process, {limits.max_open_files} open files, "
           f"files up to {limits.file_bytes >> 20} MiB; wall time {limits.call_seconds:g} s per "
           f"call, {limits.total_seconds:g} s per exercise")
    who = "a uid of its own"  # the number varies from run to run; reports must not
    view = "chroot with only system directories" if mode.chroot else "project directories hidden"
    if mode.name == "namespaces":
        return (f"isolation {mode.level}: separate process as {who} (not root) in new PID, "
                f"network, mount and IPC namespaces, {view}, private /tmp; " + lim)
    if mode.name == "userns":
        return (f"isolation {mode.level}: separate process as the grader's user in a user "
                f"namespace with new PID, network, mount and IPC namespaces, {view}, private "
                "/tmp; " + lim)
    if mode.name == "setuid":
        return (f"isolation setuid: separate process as {who} (not root), no namespaces: it can "
                "see other processes and the file system; " + lim)
    return ("isolation plain: separate process as the grader's own user (not root), no "
            "namespaces: it can read what the grader can read; " + lim)


# ============================================================================ worker process

class _WorkerFailed(Exception):
    pass


@functools.cache
def _site_dirs() -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]:
    """(directories holding the allowed packages, allowed names that are installed,
    ``(name, path)`` of every package directory/module file and its ``.libs`` siblings)."""
    dirs: list[str] = []
    names: list[str] = []
    entries: list[tuple[str, str]] = []
    for name in ALLOWED_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        item = origin.parent if origin.name == "__init__.py" else origin
        parent = item.parent
        names.append(name)
        entries.append((item.name, str(item)))
        entries.extend((p.name, str(p)) for p in sorted(parent.glob(f"{name}*.libs")))
        if str(parent) not in dirs:
            dirs.append(str(parent))
    return tuple(dirs), tuple(names), tuple(entries)


def _interpreter() -> str:
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def _make_root(name: str | None, data: bytes, mode: _Mode, uid: int | None,
               data_dir: Path | None = None, data_bytes: int = 64 << 20) -> Path:
    """A fresh directory tree: ``root/`` (0711) holding ``work/`` (the student's cwd) and, when
    ``name`` is given, the submission's bytes as ``work/<name>``; with ``data_dir``, a read-only
    copy of its regular files as ``work/data/`` (the path the starter code reads data from)."""
    root = Path(tempfile.mkdtemp(prefix=f"{_ROOT_PREFIX}{os.getpid()}-"))
    root.chmod(0o711)
    work = root / "work"
    work.mkdir(mode=0o700)
    if name is not None:
        fd = os.open(work / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    if data_dir is not None and data_dir.is_dir() and not data_dir.is_symlink():
        _copy_data(data_dir, work / "data", data_bytes)
    if mode.uid is not None and uid is not None:
        os.chown(work, uid, uid, follow_symlinks=False)
        if name is not None:
            os.chown(work / name, uid, uid, follow_symlinks=False)
    return root


def _copy_data(source: Path, target: Path, budget: int) -> None:
    """Copy the regular files below ``source`` (no links followed, at most ``budget`` bytes)
    into ``target``, read-only (files 0444, folders 0555) and owned by the grader."""
    from graders.submission_files import UnsafeSubmission

    for folder, dirs, files in os.walk(source, followlinks=False):
        rel = Path(folder).relative_to(source)
        (target / rel).mkdir(parents=True, exist_ok=True)
        dirs[:] = sorted(d for d in dirs if not (Path(folder) / d).is_symlink())
        for fname in sorted(files):
            try:
                content = read_regular_file(Path(folder) / fname, max_bytes=budget)
            except UnsafeSubmission:
                continue  # a link or a special file among the data: not copied
            budget -= len(content)
            if budget < 0:
                return
            (target / rel / fname).write_bytes(content)
            (target / rel / fname).chmod(0o444)
    for folder, dirs, _ in os.walk(target):
        for d in dirs:
            (Path(folder) / d).chmod(0o555)
    target.chmod(0o555)


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, mode: _Mode, root: Path, limits: Limits, forbidden: Sequence[str],
                 *, stdout_cap: int, hide: Sequence[str] = (), probe: bool = False,
                 uid: int | None = None, cgroup: Cgroup | None = None) -> None:
        if mode.uid is not None and uid is None:
            raise SandboxError("a root sandbox mode needs a leased uid")
        self.mode = mode
        self.uid = uid if mode.uid is not None else None
        self.cgroup = cgroup
        self.root = root
        self.limits = limits
        self.forbidden = tuple(forbidden)
        self.stdout_cap = stdout_cap
        self.hide = tuple(hide)
        self.probe = probe
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopped = False
        self.notes: list[str] = []
        self.req_w = self.rep_r = -1
        self.buffer = b""
        self.raw = bytearray()
        self.raw_dropped = 0
        self.raw_lock = threading.Lock()
        self.drain: threading.Thread | None = None
        self.max_line = 2 * limits.output_bytes + 8 * stdout_cap + (1 << 20)

    # -- start / stop
    def start(self, timeout: float) -> float:
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        out_r, out_w = os.pipe()
        work = str(self.root / "work")
        env = {
            "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "HOME": work, "TMPDIR": work, "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        }
        cmd = [*self.mode.prefix, _interpreter(), "-I", "-S", "-B", str(RUNNER),
               str(req_r), str(rep_w)]
        if self.cgroup is not None:
            cmd = join_command(self.cgroup.procs_files, cmd)
        started = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w, env=env, cwd=work,
                pass_fds=(req_r, rep_w), close_fds=True, start_new_session=True)
        except OSError as exc:
            for fd in (req_r, req_w, rep_r, rep_w, out_r, out_w):
                os.close(fd)
            raise _WorkerFailed(f"could not start the worker: {exc}") from exc
        for fd in (req_r, rep_w, out_w):
            os.close(fd)
        self.req_w, self.rep_r = req_w, rep_r
        self.drain = threading.Thread(target=self._drain, args=(out_r,), daemon=True)
        self.drain.start()
        site_dirs, allowed, packages = _site_dirs()
        L = self.limits
        rlimits = {"RLIMIT_CPU": L.cpu_seconds, "RLIMIT_AS": L.memory_bytes,
                   "RLIMIT_NOFILE": L.max_open_files, "RLIMIT_FSIZE": L.file_bytes,
                   "RLIMIT_CORE": 0}
        if self.mode.uid is not None or self.mode.name == "userns":
            rlimits["RLIMIT_NPROC"] = L.max_processes
        setup = {"op": "setup", "workdir": work, "uid": self.uid, "gid": self.uid,
                 "site_dirs": site_dirs, "allowed": allowed,
                 "forbidden": sorted(set(ALWAYS_FORBIDDEN) | set(self.forbidden)),
                 "rlimits": rlimits, "mounts": self.mode.mounts, "chroot": self.mode.chroot,
                 "packages": packages if self.mode.mounts else [],
                 "hide": list(self.hide) if self.mode.mounts else [],
                 "stdout_bytes": self.stdout_cap, "workdir_bytes": L.file_bytes,
                 # the probe makes sure the whole allowed stack imports in this mode
                 "probe_imports": [m for m in _PROBE_IMPORTS if m.split(".")[0] in allowed]
                 if self.probe and self.mode.chroot else []}
        try:
            self.send(setup)
            reply = self.receive(time.monotonic() + timeout)
        except (_WorkerFailed, _Timeout, _TooLarge) as exc:
            tail = " ".join(self.take_raw().split())[-300:]
            self.stop()
            reason = {_Timeout: f"no answer within {timeout:g} s",
                      _TooLarge: "an oversized answer"}.get(type(exc), str(exc))
            raise _WorkerFailed(f"{reason}{'; ' + tail if tail else ''}") from exc
        if not isinstance(reply, dict) or reply.get("op") != "ready":
            detail = reply.get("message") if isinstance(reply, dict) else reply
            self.stop()
            raise _WorkerFailed(f"the worker did not start: {detail}")
        # Fail closed: the worker must run as the uid it was given (the grader's own user when
        # not root), and never as root on the host -- checked by the runner too.
        expected_host = self.uid if self.uid is not None else os.getuid()
        expected_uid = self.uid if self.uid is not None else (
            0 if self.mode.name == "userns" else os.getuid())
        host_uid = reply.get("host_uid")
        if reply.get("uid") != expected_uid or host_uid != expected_host or host_uid == 0:
            self.stop()
            raise _WorkerFailed(f"the worker runs as uid {reply.get('uid')} (host uid "
                                f"{host_uid}), expected {expected_uid} (host {expected_host})"
                                " and never root")
        notes = reply.get("isolation")
        self.notes = [n[:200] for n in notes if type(n) is str] if type(notes) is list else []
        return time.monotonic() - started

    def _drain(self, fd: int) -> None:
        try:
            while True:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                with self.raw_lock:
                    room = _RAW_OUTPUT_KEPT - len(self.raw)
                    if room > 0:
                        self.raw += chunk[:room]
                    self.raw_dropped += max(0, len(chunk) - max(room, 0))
        except OSError:
            pass
        finally:
            os.close(fd)

    def take_raw(self) -> str:
        with self.raw_lock:
            text = bytes(self.raw).decode("utf-8", "replace")
            if self.raw_dropped:
                text += f"\n[... {self.raw_dropped} more bytes of output dropped]"
            self.raw.clear()
            self.raw_dropped = 0
        return text

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """Kill the worker, its process group and (in namespace modes) its whole PID namespace."""
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is not None:
            # Already reaped: its pid may be reused, so only its process group is signalled
            # (a pgid stays reserved while the group has members).
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            return
        pids = [proc.pid]
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            pids.extend(int(c) for c in children)
        # The runner (pid 1 of its namespace, or the worker itself) first: its death ends the
        # PID namespace and with it every process the student started.
        for pid in reversed(pids):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)

    def stop(self, graceful: bool = False) -> None:
        proc = self.proc
        if proc is None or self.stopped:
            return
        self.stopped = True
        if graceful and proc.poll() is None:
            with contextlib.suppress(_WorkerFailed):
                self.send({"op": "exit"})
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(0.5)
        self.kill()
        if self.cgroup is not None:
            self.cgroup.kill()  # every process of the sandbox, wherever it went
        elif self.uid is not None and not self.mode.prefix:
            # no cgroup and no PID namespace (setuid mode): the uid is the sandbox's own, so
            # whatever still runs as it is the student's
            kill_uid(self.uid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        for fd in (self.req_w, self.rep_r):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.req_w = self.rep_r = -1
        if self.drain is not None:
            self.drain.join(2)

    def returncode(self, wait: float = 1.0) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            return None

    # -- messages
    def send(self, msg: dict[str, Any]) -> None:
        data = (json.dumps(msg, allow_nan=False, separators=(",", ":")) + "\n").encode()
        try:
            view = memoryview(data)
            while view:
                n = os.write(self.req_w, view)
                view = view[n:]
        except OSError as exc:
            raise _WorkerFailed("the worker is gone (its request pipe is closed)") from exc

    def receive(self, deadline: float, *, wait: bool = True) -> Any:
        """Read one reply line before ``deadline``; raise on EOF, timeout or an oversized line.

        With ``wait=False`` only what has already arrived is read: ``_NOTHING`` when no whole
        line is there yet (the deadline is still enforced).
        """
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Timeout()
            poller = select.poll()
            poller.register(self.rep_r, select.POLLIN | select.POLLHUP | select.POLLERR)
            if not poller.poll(max(1, math.ceil(remaining * 1000)) if wait else 0):
                if not wait:
                    return _NOTHING
                continue
            chunk = os.read(self.rep_r, 1 << 20)
            if not chunk:
                raise _WorkerFailed("eof")
            self.buffer += chunk
            if len(self.buffer) > self.max_line and b"\n" not in self.buffer:
                raise _TooLarge()
        line, _, self.buffer = self.buffer.partition(b"\n")
        if len(line) > self.max_line:
            raise _TooLarge()
        try:
            return json.loads(line, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise _WorkerFailed(f"unreadable reply ({type(exc).__name__})") from exc


class _Timeout(Exception):
    pass


_NOTHING = object()  # receive(wait=False): no whole reply line has arrived yet


class _TooLarge(Exception):
    pass


def _reject_constant(name: str) -> Any:
    raise ValueError(f"bare {name} is not allowed in the protocol")


# ============================================================================ values

class _Invalid(Exception):
    pass


def _encode_arg(x: Any, depth: int = 0) -> Any:
    """Encode a (trusted) argument for the worker."""
    if depth > _MAX_DEPTH:
        raise SandboxError("argument nested too deeply")
    t = type(x)
    if x is None or t in (bool, int, str):
        return x
    if t is float:
        return x if math.isfinite(x) else {"t": "float", "v": repr(x)}
    if isinstance(x, np.generic) and x.dtype.kind in "biuf":
        return _encode_arg(x.item(), depth + 1)
    if t in (list, tuple):
        return [_encode_arg(v, depth + 1) for v in x]
    if t is dict:
        if not all(type(k) is str for k in x):
            raise SandboxError("dict arguments need str keys")
        return {"t": "dict", "v": {k: _encode_arg(v, depth + 1) for k, v in x.items()}}
    if t is RngSeed:
        return {"t": "rng", "seed": int(x.seed)}
    if isinstance(x, np.ndarray):
        a = np.array(x, order="C", copy=True)  # keeps 0-d arrays 0-d (ascontiguousarray does not)
        if a.dtype.kind not in "biuf":
            raise SandboxError(f"array arguments must be numeric or boolean, not {a.dtype}")
        return {"t": "nd", "dtype": a.dtype.str, "shape": list(a.shape),
                "b64": base64.b64encode(a.tobytes()).decode("ascii")}
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(x, pd.DataFrame):
        return {"t": "frame", "columns": [str(c) for c in x.columns],
                "data": [_encode_arg(np.asarray(x[c].to_numpy()), depth + 1) for c in x.columns]}
    raise SandboxError(f"cannot send an argument of type {t.__name__} to a submission; "
                       "use plain data, numpy arrays, DataFrames or RngSeed")


def _decode_value(x: Any, budget: list[int], depth: int = 0) -> Any:
    """Validate and rebuild a value sent by the (untrusted) worker."""
    if depth > _MAX_DEPTH:
        raise _Invalid("the value is nested too deeply")
    t = type(x)
    if x is None or t is bool or t is int or t is str:
        if t is str:
            budget[0] -= len(x)
        return x
    if t is float:
        return x
    if t is list:
        budget[0] -= 8 * len(x)
        if budget[0] < 0:
            raise _TooLarge()
        return [_decode_value(v, budget, depth + 1) for v in x]
    if t is not dict:
        raise _Invalid(f"unexpected JSON value of type {t.__name__}")
    tag = x.get("t")
    if tag == "float" and set(x) == {"t", "v"} and x["v"] in ("nan", "inf", "-inf"):
        return float(x["v"])
    if tag == "dict" and set(x) == {"t", "v"} and type(x["v"]) is dict:
        return {k: _decode_value(v, budget, depth + 1) for k, v in x["v"].items()}
    if tag == "nd" and set(x) == {"t", "dtype", "shape", "b64"}:
        return _decode_array(x, budget)
    if tag == "frame" and set(x) == {"t", "columns", "data"}:
        return _decode_frame(x, budget)
    raise _Invalid("the value contains an unknown object")


def _decode_array(x: dict[str, Any], budget: list[int]) -> Any:
    dtype_s, shape, b64 = x["dtype"], x["shape"], x["b64"]
    if type(dtype_s) is not str or not _DTYPE_RE.match(dtype_s):
        raise _Invalid(f"an array has an unsupported dtype {str(dtype_s)[:20]!r}")
    if (type(shape) is not list or len(shape) > 32
            or not all(type(n) is int and 0 <= n for n in shape)):
        raise _Invalid("an array has an invalid shape")
    if type(b64) is not str:
        raise _Invalid("an array has no data")
    dtype = np.dtype(dtype_s)
    nbytes = math.prod(shape) * dtype.itemsize
    budget[0] -= nbytes
    if budget[0] < 0:
        raise _TooLarge()
    try:
        raw = base64.b64decode(b64, validate=True)
    except ValueError as exc:
        raise _Invalid("an array's data is not valid base64") from exc
    if len(raw) != nbytes:
        raise _Invalid("an array's data does not match its shape and dtype")
    arr = np.frombuffer(raw, dtype=dtype).reshape(shape)
    arr = arr.astype(dtype.newbyteorder("="), copy=True)
    if arr.ndim == 0:
        return arr.item()
    assert type(arr) is np.ndarray
    return arr


def _decode_frame(x: dict[str, Any], budget: list[int]) -> Any:
    import pandas as pd

    columns, data = x["columns"], x["data"]
    if (type(columns) is not list or type(data) is not list or len(columns) != len(data)
            or not all(type(c) is str for c in columns) or len(set(columns)) != len(columns)):
        raise _Invalid("a DataFrame has invalid columns")
    arrays = []
    for d in data:
        if type(d) is not dict or d.get("t") != "nd" or set(d) != {"t", "dtype", "shape", "b64"}:
            raise _Invalid("a DataFrame column is not an array")
        a = _decode_array(d, budget)
        if not isinstance(a, np.ndarray) or a.ndim != 1:
            raise _Invalid("a DataFrame column is not one-dimensional")
        arrays.append(a)
    if len({len(a) for a in arrays}) > 1:
        raise _Invalid("DataFrame columns have different lengths")
    return pd.DataFrame(dict(zip(columns, arrays, strict=True)))


def _text(x: Any, limit: int) -> str:
    if type(x) is not str:
        return ""
    return x if len(x) <= limit else x[:limit] + f"\n[... truncated to {limit} characters]"


def _line(x: Any, limit: int = 500) -> str:
    return " ".join(_text(x, limit).split())


# ============================================================================ submissions

def _default_hide(submission: Path) -> list[str]:
    """Directories the worker must not see: our project and the submission's own directory."""
    project = Path(__file__).resolve().parent.parent
    dirs = {str(project), str(submission.resolve().parent)}
    for name in ALWAYS_FORBIDDEN:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            dirs.add(str(Path(spec.origin).resolve().parent))
    keep = [_interpreter(), sys.base_prefix, tempfile.gettempdir()]
    return sorted(d for d in dirs
                  if d != "/" and not any(k == d or k.startswith(d + "/") for k in keep))


# ============================================================================ sandbox

def _crash_trace(raw: str, labels: Sequence[str]) -> str:
    """The student's part of a crash report (faulthandler output) or the last lines printed."""
    lines = raw.strip().splitlines()
    fatal = [i for i, line in enumerate(lines) if line.startswith("Fatal Python error")]
    if not fatal:
        return "\n".join(lines[-20:])
    picked = [lines[fatal[-1]]]
    for line in lines[fatal[-1] + 1:]:
        if any(f'File "{label}"' in line for label in labels):
            picked.append(line.strip())
    return "\n".join(picked)


def _cleanup(workers: list[_Worker], root: Path, group: Cgroup | None = None) -> None:
    """Stop the workers, empty and remove the cgroup, delete the directory tree (also run if a
    Sandbox is not closed)."""
    for worker in workers:
        worker.stop()
    if group is not None:
        group.remove()
    shutil.rmtree(root, ignore_errors=True)


@dataclass
class Budget:
    """Wall time shared by every sandbox of one submission (all exercises of an assignment)."""

    seconds: float
    started: float = dataclasses.field(default_factory=time.monotonic)

    def remaining(self) -> float:
        return max(0.0, self.seconds - (time.monotonic() - self.started))


_SIGNALS = {
    signal.SIGSEGV: "segmentation fault",
    signal.SIGKILL: "killed (memory or process limit, or stopped by the sandbox)",
    signal.SIGXCPU: "CPU time limit exceeded",
    signal.SIGABRT: "aborted",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating-point exception",
    signal.SIGXFSZ: "file size limit exceeded",
}


class Sandbox:
    """Load a submission in a restricted worker process and call its functions.

    Use as a context manager (or call :meth:`close`).  Every outcome is data; the only
    exception raised is :class:`SandboxError` for misuse (missing file, unsupported argument).
    """

    def __init__(self, submission: Path | str, *, forbidden_imports: Sequence[str] = (),
                 limits: Limits = Limits(), hide: Sequence[Path | str] = (),
                 data: bytes | None = None, budget: Budget | None = None) -> None:
        self.submission = Path(submission)
        if self.submission.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise SandboxError(f"unsupported submission type {self.submission.name!r}; "
                               "submit a .py file or a .ipynb notebook")
        if data is None:  # never through a link, never blocking (graders.submission_files)
            try:
                data = read_regular_file(self.submission)
            except UnsafeSubmission as exc:
                raise SandboxError(str(exc)) from None
        self.data = data
        self._read_error = ""
        try:
            self.cells = read_cells(self.submission, data)
        except NotebookError as exc:
            self.cells, self._read_error = [], str(exc)
        self.forbidden = tuple(forbidden_imports)
        self.limits = limits
        self.budget = budget
        #: a folder copied read-only to ``data/`` in the worker's directory (the student's data)
        self.data_dir: Path | None = None
        self.mode, _ = _probe()
        self.isolation: str = _describe(self.mode, limits)
        self.hide = sorted({*_default_hide(self.submission), *(str(Path(h)) for h in hide)})
        self._worker: _Worker | None = None
        self._root: Path | None = None
        self._group: Cgroup | None = None
        self._lease: UidLease | None = None
        self._finalizer: weakref.finalize | None = None
        self._load: LoadOutcome | None = None
        self._used = 0.0
        self._last_stop = ""  # "timeout" | "crash": why the previous worker was stopped
        self.unavailable = ""  # set when a restart failed for the grader's reasons
        self.restarts = 0
        self.worker_start_seconds: list[float] = []
        self._lent = False  # lent to one exercise after another (SubmissionSandboxes)

    # -- context manager
    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker, delete its directory and give its uid back (a sandbox lent by
        :class:`SubmissionSandboxes` stays open until its owner closes)."""
        if self._lent:
            return
        self._stop_worker(graceful=True)
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    def _stop_worker(self, graceful: bool = False, reason: str = "") -> None:
        if reason:
            self._last_stop = reason
        if self._worker is not None:
            self._worker.stop(graceful=graceful)
            self._worker = None
        if self._finalizer is not None:
            self._finalizer()  # kills what is left, removes the cgroup and the directory (once)
            self._finalizer = None
        self._root = None
        self._group = None

    @property
    def remaining_seconds(self) -> float:
        own = self.limits.total_seconds - self._used
        if self.budget is not None:
            own = min(own, self.budget.remaining())
        return max(0.0, own)

    # -- load
    def load(self) -> LoadOutcome:
        """Start a worker and run the submission's top level; cached after the first time.

        Raises:
            SandboxUnavailable: no worker could be started (after retries): the grading
                machine's problem, never the submission's.
        """
        if self._load is None:
            self._load = self._start_and_load()
        return self._load

    def _start_and_load(self) -> LoadOutcome:
        self._stop_worker()
        t0 = time.monotonic()
        try:
            return self._start_and_load_inner()
        finally:
            self._used += time.monotonic() - t0

    def _start_worker(self) -> _Worker:
        """Start a worker in a fresh directory (and cgroup); retried, as starting it runs no
        student code, so a failure is the grading machine's."""
        if self.mode.uid is not None and self._lease is None:
            try:
                self._lease = UidLease.acquire()
            except OSError as exc:
                raise SandboxUnavailable(f"no sandbox uid could be leased ({exc}); this is a "
                                         "problem of the grading machine") from None
        uid = self._lease.uid if self._lease is not None else None
        stdout_cap = max(1024, min(self.limits.output_bytes // 8, 1 << 20))
        failures = []
        for attempt in range(START_ATTEMPTS):
            self._root = _make_root(self.submission.name, self.data, self.mode, uid,
                                    self.data_dir, self.limits.file_bytes)
            self._group = None
            if self.mode.uid is not None and not _cgroups_available():
                with contextlib.suppress(CgroupUnavailable):
                    self._group = Cgroup.create(
                        f"{os.getpid()}-{secrets.token_hex(6)}",
                        max_processes=self.limits.max_processes,
                        memory_bytes=self.limits.memory_bytes)
            self._finalizer = weakref.finalize(self, _cleanup, [], self._root, self._group)
            worker = _Worker(self.mode, self._root, self.limits, self.forbidden,
                             stdout_cap=stdout_cap, hide=self.hide, uid=uid, cgroup=self._group)
            try:
                self.worker_start_seconds.append(worker.start(STARTUP_SECONDS))
            except _WorkerFailed as exc:
                failures.append(str(exc))
                self._stop_worker()
                time.sleep(0.25 * 2**attempt)
                continue
            self._finalizer.detach()
            self._finalizer = weakref.finalize(self, _cleanup, [worker], self._root, self._group)
            return worker
        raise SandboxUnavailable(f"the sandbox worker could not start ({'; '.join(failures)[:400]}) "
                                 f"after {START_ATTEMPTS} attempts; this is a problem of the "
                                 "grading machine, not of the submission")

    def _start_and_load_inner(self) -> LoadOutcome:
        if self._read_error:
            return LoadOutcome("syntax_error", self._read_error)
        if self.remaining_seconds <= 0:
            return LoadOutcome("timeout", self._budget_message())
        worker = self._worker = self._start_worker()
        for note in worker.notes:
            if note.startswith("limits not available") and note not in self.isolation:
                self.isolation += f"; {note}"
        started = time.monotonic()
        timeout = min(self.limits.call_seconds, self.remaining_seconds)
        try:
            worker.send({"op": "load", "name": self.submission.name, "cells": self.cells})
            reply = worker.receive(started + timeout)
        except _Timeout:
            self._stop_worker(reason="timeout")
            return LoadOutcome("timeout", f"loading {self.submission.name} took longer than "
                               f"{timeout:g} s; remove slow or endless code from the top level",
                               runtime=time.monotonic() - started)
        except _TooLarge:
            self._stop_worker(reason="crash")
            return LoadOutcome("crashed", f"loading {self.submission.name} produced too much "
                               "output", runtime=time.monotonic() - started)
        except _WorkerFailed:
            message, tail = self._death_message(worker, f"while loading {self.submission.name}")
            self._stop_worker(reason="crash")
            return LoadOutcome("crashed", message, traceback=tail,
                               runtime=time.monotonic() - started)
        runtime = time.monotonic() - started
        return self._parse_load(reply, runtime)

    def _parse_load(self, reply: Any, runtime: float) -> LoadOutcome:
        statuses = {"ok", "syntax_error", "import_error", "forbidden_import", "crashed", "empty"}
        if type(reply) is not dict or reply.get("op") != "loaded" \
                or reply.get("status") not in statuses:
            self._stop_worker()
            return LoadOutcome("crashed", "the worker sent an invalid reply while loading the "
                               "submission", runtime=runtime)
        functions = reply.get("functions")
        if type(functions) is not list or not all(type(f) is str for f in functions):
            functions = []
        warnings = reply.get("warnings")
        if type(warnings) is not list:
            warnings = []
        status = reply["status"]
        outcome = LoadOutcome(
            status=status,
            message=_line(reply.get("message")) or ("loaded" if status == "ok" else status),
            functions=tuple(f[:200] for f in functions[:500]),
            traceback=_text(reply.get("traceback"), 20000),
            stdout=self._stdout(reply),
            warnings=tuple(_line(w) for w in warnings[:50] if type(w) is str),
            runtime=runtime,
        )
        if status != "ok":
            self._stop_worker()
        return outcome

    def _stdout(self, reply: Any) -> str:
        cap = max(1024, min(self.limits.output_bytes // 8, 1 << 20))
        text = _text(reply.get("stdout") if type(reply) is dict else None, cap + 200)
        raw = self._worker.take_raw() if self._worker is not None else ""
        return text + raw

    # -- calls
    def call(self, function: str, *args: Any, **kwargs: Any) -> CallOutcome:
        """Call ``function(*args, **kwargs)`` in the worker; never raises for student behaviour."""
        try:
            payload_args = [_encode_arg(a) for a in args]
            payload_kwargs = {k: _encode_arg(v) for k, v in kwargs.items()}
        except RecursionError as exc:
            raise SandboxError("argument nested too deeply") from exc
        refused = self._ready()
        if refused is not None:
            return refused
        t0 = time.monotonic()
        try:
            return self._call(function, payload_args, payload_kwargs)
        finally:
            self._used += time.monotonic() - t0

    def call_many(self, function: str, arg_lists: Sequence[Sequence[Any]]) -> CallBatch:
        """Call ``function`` once per argument list, all sent in one request.

        The worker answers each call as soon as it returns; :class:`CallBatch` reads the answers
        (:meth:`CallBatch.poll` without waiting, :meth:`CallBatch.wait` until all are in) and
        limits every call as :meth:`call` does: ``call_seconds`` from the moment the previous
        answer arrived, and the submission's remaining time. A call that times out, crashes the
        worker or sends an unreadable answer ends the batch: its outcome says so and the calls
        after it are ``not_run`` (the worker is restarted by the next request).
        """
        try:
            payloads = [[_encode_arg(a) for a in args] for args in arg_lists]
        except RecursionError as exc:
            raise SandboxError("argument nested too deeply") from exc
        batch = CallBatch(self, function, len(payloads))
        if not payloads:
            return batch
        refused = self._ready()
        if refused is not None:
            return batch.fail(refused)
        batch.start(payloads)
        return batch

    def _ready(self) -> CallOutcome | None:
        """Load the submission, or restart a worker a crash or timeout stopped; the outcome every
        call gets when that fails or the time is used up, else None."""
        loaded = self.load()
        if loaded.status != "ok":
            return self._not_loaded(loaded)
        if self._worker is None or not self._worker.alive():
            if self.restarts >= MAX_RESTARTS:
                return CallOutcome("crashed", message=f"the submission crashed the sandbox worker "
                                   f"{self.restarts} times; no further calls are made")
            self.restarts += 1
            try:
                reloaded = self._start_and_load()
            except SandboxUnavailable as exc:  # the grader's problem: the run must stop
                self.unavailable = str(exc)
                return CallOutcome("unavailable", message=str(exc))
            if reloaded.status != "ok":
                return self._not_loaded(reloaded, restarted=True)
        if self.remaining_seconds <= 0:
            self._stop_worker()
            return CallOutcome("timeout", message=self._budget_message())
        return None

    def _call(self, function: str, args: list[Any], kwargs: dict[str, Any]) -> CallOutcome:
        worker = self._worker
        assert worker is not None
        call_id = secrets.randbits(52)  # unguessable: a forged reply cannot match it
        timeout = min(self.limits.call_seconds, self.remaining_seconds)
        started = time.monotonic()
        what = f"{function}()"
        try:
            worker.send({"op": "call", "id": call_id, "function": function, "args": args,
                         "kwargs": kwargs})
            reply = worker.receive(started + timeout)
        except (_Timeout, _TooLarge, _WorkerFailed) as exc:
            return self._call_failed(exc, worker, what, timeout, started)
        runtime = time.monotonic() - started
        return self._parse_call(reply, call_id, what, runtime)

    def _call_failed(self, exc: Exception, worker: _Worker, what: str, timeout: float,
                     started: float) -> CallOutcome:
        """The outcome of a call that timed out (after ``timeout`` s), answered too much, or
        whose worker died; the worker is stopped."""
        runtime = time.monotonic() - started
        if isinstance(exc, _Timeout):
            self._stop_worker(reason="timeout")
            limit = ("call time limit" if timeout == self.limits.call_seconds
                     else "remaining time of the submission")
            return CallOutcome("timeout", message=f"{what} did not return within {timeout:g} s "
                               f"({limit}); look for an endless loop or very slow code",
                               runtime=runtime)
        if isinstance(exc, _TooLarge):
            self._stop_worker()
            return CallOutcome("output_too_large", message=f"{what} returned more than "
                               f"{self.limits.output_bytes} bytes of data", runtime=runtime)
        message, tail = self._death_message(worker, f"while running {what}")
        stdout = worker.take_raw()
        self._stop_worker(reason="crash")
        return CallOutcome("crashed", message=message, traceback=tail, stdout=stdout, runtime=runtime)

    def _parse_call(self, reply: Any, call_id: int, what: str, runtime: float) -> CallOutcome:
        statuses = {"ok", "error", "crashed", "missing", "not_implemented", "invalid_output",
                    "forbidden_import"}
        if (type(reply) is not dict or reply.get("op") != "result"
                or reply.get("id") != call_id or reply.get("status") not in statuses):
            self._stop_worker()
            return CallOutcome("crashed", message=f"the worker sent an invalid reply to {what}; the "
                               "submission must not write to the sandbox's pipes",
                               runtime=runtime)
        status = reply["status"]
        stdout = self._stdout(reply)
        message = _line(reply.get("message"))
        tb = _text(reply.get("traceback"), 20000)
        if status != "ok":
            if status == "crashed" or "MemoryError" in message or "out of memory" in message:
                self._stop_worker()  # a fresh worker for the next call
            return CallOutcome(status, message=message or status, traceback=tb, stdout=stdout,
                               runtime=runtime)
        budget = [self.limits.output_bytes]
        try:
            value = _decode_value(reply.get("value"), budget)
        except _TooLarge:
            return CallOutcome("output_too_large", message=f"{what} returned more than "
                               f"{self.limits.output_bytes} bytes of data", stdout=stdout,
                               runtime=runtime)
        except (_Invalid, KeyError, ValueError, TypeError, RecursionError) as exc:
            detail = str(exc) if isinstance(exc, _Invalid) else type(exc).__name__
            self._stop_worker()
            return CallOutcome("invalid_output", message=f"{what} returned a value the grader cannot "
                               f"accept ({detail})", stdout=stdout, runtime=runtime)
        return CallOutcome("ok", value, message="", stdout=stdout, runtime=runtime)

    def _not_loaded(self, loaded: LoadOutcome, restarted: bool = False) -> CallOutcome:
        status = loaded.status if loaded.status in ("timeout", "crashed", "forbidden_import") \
            else "error"
        after = "the previous call timed out" if self._last_stop == "timeout" else "a crash"
        prefix = (f"after {after} the submission could not be loaded again: " if restarted
                  else "the submission did not load: ")
        return CallOutcome(status, message=prefix + loaded.message, traceback=loaded.traceback,
                           stdout=loaded.stdout)

    def _budget_message(self) -> str:
        if self.budget is not None and self.budget.remaining() <= 0:
            return (f"the submission used up its total time budget of {self.budget.seconds:g} s "
                    "(all exercises together); no further calls are made")
        return (f"the submission used up its time budget of {self.limits.total_seconds:g} s "
                "for this exercise; no further calls are made")

    def _death_message(self, worker: _Worker, during: str) -> tuple[str, str]:
        code = worker.returncode(2.0)
        if code is None:
            worker.kill()
            code = worker.returncode(2.0)
        tail = _crash_trace(worker.take_raw(), [label for label, _ in self.cells])
        if code is not None and self.mode.prefix and code > 128:
            code = 128 - code  # the namespace's init reports a killed worker as 128 + signal
        if code is not None and code < 0:
            try:
                sig = signal.Signals(-code)
                name = f"{sig.name}, {_SIGNALS.get(sig, 'signal')}"
            except ValueError:
                name = f"signal {-code}"
            return f"the worker process died {during} ({name})", tail
        if code is not None:
            return (f"the worker process exited with status {code} {during} "
                    "(os._exit or a C-level exit); functions must return, not exit"), tail
        return f"the worker process stopped answering {during}", tail


class CallBatch:
    """The outcomes of :meth:`Sandbox.call_many`, read as the worker sends them."""

    def __init__(self, sandbox: Sandbox, function: str, n: int) -> None:
        self.sandbox = sandbox
        self.function = function
        self.outcomes: list[CallOutcome | None] = [None] * n
        self.received = 0  # outcomes known so far (a prefix of the list)
        self._call_id = secrets.randbits(52)
        self._worker: _Worker | None = None
        self._started = 0.0  # when the call now running began (as far as the parent can tell)
        self._end = 0.0  # the submission's time runs out here
        self._sent_at = 0.0

    @property
    def done(self) -> bool:
        return self.received == len(self.outcomes)

    def fail(self, outcome: CallOutcome) -> CallBatch:
        """End the batch: ``outcome`` for the call now due, ``not_run`` for those after it."""
        if self.done:
            return self
        self.outcomes[self.received] = outcome
        for i in range(self.received + 1, len(self.outcomes)):
            self.outcomes[i] = CallOutcome("not_run", message="not run: an earlier call of the "
                                           "same request ended the worker")
        self.received = len(self.outcomes)
        if self._worker is not None:
            self.sandbox._used += time.monotonic() - self._sent_at
            self._worker = None
        return self

    def start(self, payloads: list[list[Any]]) -> None:
        sandbox = self.sandbox
        worker = sandbox._worker
        assert worker is not None
        self._end = time.monotonic() + sandbox.remaining_seconds
        self._sent_at = self._started = time.monotonic()
        self._worker = worker
        try:
            worker.send({"op": "calls", "id": self._call_id, "function": self.function,
                         "args_list": payloads})
        except _WorkerFailed as exc:
            self.fail(sandbox._call_failed(exc, worker, f"{self.function}()", 0.0, self._started))
            return
        self._started = time.monotonic()

    def _read(self, wait: bool) -> bool:
        """Read the next outcome (waiting for it, or only if it has arrived); False if none came."""
        worker, sandbox = self._worker, self.sandbox
        assert worker is not None
        what = f"{self.function}()"
        limit = min(sandbox.limits.call_seconds, self._end - self._started)
        try:
            reply = worker.receive(self._started + limit, wait=wait)
        except (_Timeout, _TooLarge, _WorkerFailed) as exc:
            self.fail(sandbox._call_failed(exc, worker, what, limit, self._started))
            return True
        if reply is _NOTHING:
            return False
        now = time.monotonic()
        runtime = now - self._started
        index = reply.get("index") if type(reply) is dict else None
        if index != self.received:
            sandbox._stop_worker()
            self.fail(CallOutcome("crashed", message=f"the worker sent an invalid reply to {what}; the "
                                  "submission must not write to the sandbox's pipes", runtime=runtime))
            return True
        outcome = sandbox._parse_call(reply, self._call_id, what, runtime)
        self.outcomes[self.received] = outcome
        self.received += 1
        self._started = now
        if sandbox._worker is not worker and not self.done:  # the answer stopped the worker
            self.fail(CallOutcome("not_run", message="not run: the worker was stopped by the call before"))
        elif self.done:
            sandbox._used += now - self._sent_at
            self._worker = None
        return True

    def poll(self) -> None:
        """Read the outcomes that have arrived, without waiting (enforces the time limits)."""
        while not self.done and self._read(wait=False):
            pass

    def wait(self) -> list[CallOutcome]:
        """Every outcome, in the order of the argument lists (waiting for those still running)."""
        while not self.done:
            self._read(wait=True)
        return [o for o in self.outcomes if o is not None]


class SubmissionSandboxes:
    """One warm worker for all exercises of a submission (one per set of forbidden imports).

    Starting a worker (namespaces, chroot, importing numpy and pandas) costs about half a second;
    grading an assignment's exercises one after another in the same worker saves it for every
    exercise but the first.  :meth:`factory` has the shape of ``graders.runner.SandboxFactory``:
    each exercise gets the shared sandbox with its own per-call time limit and a fresh restart
    count, and its ``close()`` leaves the worker running; :meth:`close` (or the ``with`` block)
    stops it.  A crash or timeout still only restarts the worker, which reloads the submission.
    """

    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits
        self._sandboxes: dict[tuple[Path, tuple[str, ...]], Sandbox] = {}

    def factory(self, submission: Path, forbidden: Sequence[str], call_seconds: float) -> Sandbox:
        key = (Path(submission), tuple(forbidden))
        sandbox = self._sandboxes.get(key)
        if sandbox is None:
            sandbox = Sandbox(submission, forbidden_imports=tuple(forbidden), limits=self.limits)
            sandbox._lent = True
            self._sandboxes[key] = sandbox
        sandbox.limits = dataclasses.replace(sandbox.limits, call_seconds=call_seconds)
        sandbox.isolation = _describe(sandbox.mode, sandbox.limits)
        sandbox.restarts = 0
        return sandbox

    def close(self) -> None:
        """Stop every worker and give their uids back."""
        for sandbox in self._sandboxes.values():
            sandbox._lent = False
            sandbox.close()
        self._sandboxes.clear()

    def __enter__(self) -> SubmissionSandboxes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

