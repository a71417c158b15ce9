"""Standalone child runner of the grading sandbox (stdlib at start-up, numpy after set-up).

This file is executed as a script (``python -I -S -B _runner.py REQ_FD REP_FD``) in a separate
process started by :mod:`graders.sandbox`; it is never imported by the grader and imports nothing
from this project.  It runs the untrusted submission, so everything it sends back is treated as
hostile by the parent, which re-validates every message.

Protocol (JSON lines)
---------------------
The parent writes one JSON object per line to file descriptor ``REQ_FD``; the runner answers
each request with exactly one JSON object per line on ``REP_FD``.  Standard output and standard
error are *not* part of the protocol (whatever the student prints cannot forge a reply); stdout
and stderr writes made through ``sys.stdout``/``sys.stderr`` are captured in memory (capped) and
returned inside the reply, raw writes to fd 1/2 go to a pipe the parent drains and caps.

1. ``{"op": "setup", ...}`` -> ``{"op": "ready", "pid": int, "uid": int, "host_uid": int,
   "isolation": [str]}`` (``host_uid``: the uid as the host sees it, never 0 -- the runner
   refuses to run student code as root and the parent refuses such a worker)
   or ``{"op": "setup_failed", "message": str}``.  Keys of the set-up message:
   ``workdir`` (cwd of the student, already holding a copy of the submission), ``uid``/``gid``
   (drop to this user when started as root, else null), ``allowed`` (top-level package names,
   e.g. numpy) and ``site_dirs`` (where they live; they are reachable only through an allow-list
   finder, never through ``sys.path``), ``forbidden`` (module names blocked by an import hook),
   ``rlimits`` (``{"RLIMIT_AS": n, ...}``), ``stdout_bytes``, and for the namespace modes
   ``mounts`` (build a private file-system view, see ``_mounts``), ``chroot``, ``packages``
   (``[[name, path], ...]``: the allowed package directories/files, bound one by one) and
   ``hide`` (directories covered with an empty tmpfs), ``workdir_bytes`` (size of the work
   directory's tmpfs).  Everything privileged happens here, before the runner drops to ``uid``
   and before any student code runs.  As pid 1 of a PID namespace the runner then forks: the
   child answers the protocol, pid 1 stays a minimal init (see ``_fork_init``).
2. ``{"op": "load", "name": "sub.py", "cells": [[label, source], ...]}`` ->
   ``{"op": "loaded", "status", "message", "traceback", "functions", "warnings", "stdout"}``.
   Every cell is compiled with ``label`` as its file name and run in one module namespace
   (``__name__`` is the submission's stem, or ``submission`` when the stem would shadow a
   module, so ``if __name__ == "__main__"`` blocks do not run).  A notebook gets a
   ``get_ipython()`` for the calls IPython's transformer wrote: magics and shell commands are
   skipped with a warning, ``%%time``/``%%timeit``/``%%capture``/``%%prun`` run their body.
   Nothing but ``setup`` is answered before set-up succeeded.  ``status`` is one of ok,
   syntax_error, import_error, forbidden_import, crashed, empty.
3. ``{"op": "call", "id": int, "function": str, "args": [...], "kwargs": {...}}`` ->
   ``{"op": "result", "id": int, "status", "value", "message", "traceback", "stdout"}``;
   ``id`` is a random number the reply must echo, ``status`` one of ok, error, crashed,
   missing, not_implemented, invalid_output, forbidden_import.  Every reply also carries
   ``child_seconds`` (informative only; the parent measures time itself).
   ``{"op": "calls", "id": int, "function": str, "args_list": [[...], ...]}`` calls the function
   once per argument list, in order, and answers each call with its own ``result`` line as
   soon as it returns (the same keys, plus ``index``): one request for many calls, while the
   parent still times and limits every call on its own.
4. ``{"op": "exit"}`` -> the runner exits at once (``os._exit``) without replying.

Values are JSON with tagged objects (every JSON object is tagged, so a dict can never be
mistaken for an array): ``{"t": "dict", "v": {str: value}}``,
``{"t": "nd", "dtype": "<f8", "shape": [..], "b64": base64 of the C-ordered raw bytes}``,
``{"t": "frame", "columns": [str], "data": [nd]}``, ``{"t": "float", "v": "nan"|"inf"|"-inf"}``
and, from parent to child only, ``{"t": "rng", "seed": int}`` (becomes
``numpy.random.default_rng(seed)``).  Serialisation uses exact type checks (``type(x) is
float``), so subclasses, rigged ``__eq__`` objects and object arrays are refused here; the parent
checks again anyway because this process runs student code.
"""

import base64
import builtins
import io
import json
import os
import resource
import sys
import time
import traceback

# Captured at start-up, before any student code runs (the student may patch builtins later;
# the parent re-validates everything, so this is only defence in depth).
_type = builtins.type
_isinstance = builtins.isinstance
_len = builtins.len
_str = builtins.str
_MY_PID = os.getpid()
_MAX_DEPTH = 64
_MAX_TEXT = 2000


class ForbiddenImport(ImportError):
    """Raised by the import hook for a module the exercise forbids."""


class _Blocker:
    """Meta-path finder refusing the forbidden modules and their submodules."""

    def __init__(self, names):
        self.names = tuple(names)

    def find_spec(self, fullname, path=None, target=None):
        for name in self.names:
            if fullname == name or fullname.startswith(name + "."):
                raise ForbiddenImport(f"import of {name!r} is not allowed in this exercise",
                                      name=fullname)
        return None


class _AllowList:
    """Meta-path finder exposing only the allowed top-level packages of site-packages."""

    def __init__(self, site_dirs, allowed):
        self.site_dirs = list(site_dirs)
        self.allowed = frozenset(allowed)

    def find_spec(self, fullname, path=None, target=None):
        if path is not None or fullname not in self.allowed:
            return None
        from importlib.machinery import PathFinder
        return PathFinder.find_spec(fullname, self.site_dirs)


class _Capture(io.TextIOBase):
    """A text sink keeping the first ``cap`` characters and counting the rest."""

    def __init__(self, cap):
        self.cap = cap
        self.parts = []
        self.kept = 0
        self.dropped = 0

    def writable(self):
        return True

    def write(self, text):
        if _type(text) is not _str:
            raise TypeError("write() argument must be str")
        room = self.cap - self.kept
        if room > 0:
            piece = text[:room]
            self.parts.append(piece)
            self.kept += _len(piece)
        self.dropped += max(0, _len(text) - max(room, 0))
        return _len(text)

    def take(self):
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n[... {self.dropped} more characters of output dropped]"
        self.parts, self.kept, self.dropped = [], 0, 0
        return text


class _Unserialisable(Exception):
    pass


# ----------------------------------------------------------------------------- encoding

def _encode(x, np, pd, depth=0):
    if depth > _MAX_DEPTH:
        raise _Unserialisable("the value is nested too deeply")
    t = _type(x)
    if t is int and x.bit_length() > 1024:
        raise _Unserialisable("returned an integer too large to be a result")
    if x is None or t is bool or t is int or t is _str:
        return x
    if t is float:
        return _encode_float(x)
    if t is list or t is tuple:
        return [_encode(v, np, pd, depth + 1) for v in x]
    if t is dict:
        out = {}
        for k, v in x.items():
            if _type(k) is not _str:
                raise _Unserialisable(f"a dict key has type {_type(k).__name__}; use str keys")
            out[k] = _encode(v, np, pd, depth + 1)
        return {"t": "dict", "v": out}
    if np is not None:
        if t is np.ndarray:
            return _encode_array(x, np)
        if t in _numpy_scalar_types(np):
            return _encode_scalar(x, np)
    if pd is not None:
        if t is pd.DataFrame:
            cols = list(x.columns)
            if any(_type(c) is not _str for c in cols):
                raise _Unserialisable("DataFrame column names must be str")
            data = [_encode_array(np.asarray(x[c].to_numpy()), np) for c in cols]
            return {"t": "frame", "columns": cols, "data": data}
        if t is pd.Series:
            return _encode_array(np.asarray(x.to_numpy()), np)
    raise _Unserialisable(f"returned an object of type {t.__name__!r}, which is not plain data; "
                          "return a float, int, bool, str, list, dict or numpy array")


def _encode_float(x):
    if x != x:
        return {"t": "float", "v": "nan"}
    if x in (float("inf"), float("-inf")):
        return {"t": "float", "v": "inf" if x > 0 else "-inf"}
    return x


def _encode_scalar(x, np):
    """A numpy scalar as the matching builtin (``np.longdouble`` and ``float128`` as float)."""
    kind = np.dtype(_type(x)).kind
    if kind == "b":
        return bool(x)
    if kind in "iu":
        return _encode(int(x), np, None)
    if kind == "f":
        return _encode_float(float(x))
    raise _Unserialisable(f"returned a {np.dtype(_type(x)).name} number; return real numbers")


_SCALARS = None


def _numpy_scalar_types(np):
    global _SCALARS
    if _SCALARS is None:
        _SCALARS = frozenset(t for t in set(np.sctypeDict.values())
                             if t.__module__ == "numpy" and np.dtype(t).kind in "biufc")
    return _SCALARS


def _encode_array(a, np):
    if _type(a) is not np.ndarray:
        raise _Unserialisable(f"returned an array of type {_type(a).__name__!r}; "
                              "return a plain numpy.ndarray")
    if a.dtype.kind not in "biuf" or a.dtype.fields is not None:
        raise _Unserialisable(f"returned an array of dtype {a.dtype}; return numbers or booleans")
    if a.dtype.kind == "f" and a.dtype.itemsize > 8:  # long double: the values as float64
        a = a.astype(np.float64)
    if a.ndim == 0:
        return _encode(a.item(), np, None)
    a = np.ascontiguousarray(a)
    return {"t": "nd", "dtype": a.dtype.str, "shape": list(a.shape),
            "b64": base64.b64encode(a.tobytes()).decode("ascii")}


def _decode(x, np):
    """Decode an argument sent by the (trusted) parent."""
    if _type(x) is list:
        return [_decode(v, np) for v in x]
    if _type(x) is not dict:
        return x
    tag = x.get("t")
    if tag == "dict":
        return {k: _decode(v, np) for k, v in x["v"].items()}
    if tag == "float":
        return float(x["v"])
    if tag == "nd":
        raw = base64.b64decode(x["b64"])
        return np.frombuffer(raw, dtype=np.dtype(x["dtype"])).reshape(x["shape"]).copy()
    if tag == "rng":
        return np.random.default_rng(x["seed"])
    if tag == "frame":
        import pandas as pd
        pairs = zip(x["columns"], x["data"], strict=True)
        return pd.DataFrame({c: _decode(d, np) for c, d in pairs})
    raise ValueError(f"unknown tag {tag!r}")


# ----------------------------------------------------------------------------- set-up

def _setup(cfg):
    notes = []
    is_root = os.geteuid() == 0
    if is_root and cfg.get("mounts"):
        _mounts(cfg, notes)
        _remap_paths(*cfg["path_map"])
    skipped = _set_rlimits(cfg.get("rlimits") or {}, strict=is_root)
    if skipped:
        notes.append("limits not available here: " + ", ".join(skipped))
    if is_root and cfg.get("uid") is not None:
        _drop_privileges(cfg["uid"], cfg["gid"])
        notes.append(f"uid {os.getuid()}")
    _no_new_privileges()
    if _host_uid() == 0:  # never run student code with root's powers, whatever the mode
        raise PermissionError("the worker still runs as root after set-up; refusing to run "
                              "student code")
    os.chdir(cfg["workdir"])
    os.environ["HOME"] = cfg["workdir"]
    os.environ["TMPDIR"] = cfg["workdir"]
    sys.path[:] = [p for p in sys.path if p and os.path.exists(p)]
    global _FORBIDDEN
    _FORBIDDEN = tuple(cfg.get("forbidden") or ())
    sys.meta_path.insert(0, _Blocker(_FORBIDDEN))
    sys.meta_path.append(_AllowList(cfg.get("site_dirs") or (), cfg.get("allowed") or ()))
    sys.dont_write_bytecode = True
    import importlib

    import numpy  # noqa: F401  (fail early, before the student runs, if numpy is unreachable)
    for name in cfg.get("probe_imports") or ():  # the isolation probe checks the whole stack
        importlib.import_module(name)
    return notes


def _host_uid():
    """This process's uid as the host sees it (through the user namespace's uid map)."""
    uid = os.getuid()
    try:
        with open("/proc/self/uid_map") as fh:
            rows = [line.split() for line in fh]
    except OSError:
        return uid
    for row in rows:
        if _len(row) == 3 and int(row[0]) <= uid < int(row[0]) + int(row[2]):
            return int(row[1]) + uid - int(row[0])
    return -1  # unmapped: certainly not root


def _remap_paths(old, new):
    """After the interpreter's tree moved to ``new``: fix sys.path and the search paths of the
    packages imported so far (``encodings`` and friends import submodules lazily)."""
    def fix(p):
        moved = _type(p) is _str and (p == old or p.startswith(old + "/"))
        return new + p[_len(old):] if moved else p

    sys.path[:] = [fix(p) for p in sys.path]
    for module in list(sys.modules.values()):
        search = getattr(module, "__path__", None)
        if _type(search) is list:
            search[:] = [fix(p) for p in search]
    sys.path_importer_cache.clear()


def _libc():
    import ctypes
    return ctypes.CDLL(None, use_errno=True)


def _mount(libc, source, target, fstype, flags, data):
    import ctypes
    rc = libc.mount(source.encode() if source else None, target.encode(),
                    fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                    data.encode() if data else None)
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target} failed: {os.strerror(err)}")


_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = (
    1, 2, 4, 32, 4096, 16384, 1 << 18)


def _bind(libc, source, target, readonly=True, recursive=False):
    """Bind ``source`` (a path or /proc/self/fd/N) on ``target``, creating the mount point."""
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            with open(target, "wb"):
                pass
    _mount(libc, source, target, None, _MS_BIND | (_MS_REC if recursive else 0), None)
    if readonly:
        _mount(libc, None, target, None,
               _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV, None)


def _cover(libc, target):
    """Cover a directory with an empty read-only tmpfs."""
    _mount(libc, "tmpfs", target, "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_RDONLY,
           "size=4k,mode=755")


_SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
_ETC_FILES = ("ld.so.cache", "localtime", "nsswitch.conf")
_DEVICES = ("null", "zero", "full", "random", "urandom")
_SITE_GLOBS = ("/usr/lib/python3*/site-packages", "/usr/lib/python3*/dist-packages",
               "/usr/local/lib/python3*/site-packages", "/usr/local/lib/python3*/dist-packages",
               "/usr/lib/python3/dist-packages", "/usr/local/lib/python3/dist-packages")


def _mounts(cfg, notes):
    """Inside a private mount namespace (as root there): build the worker's file system view.

    A private tmpfs on /tmp; the work directory a size-limited tmpfs at its own path holding a
    copy of the submission; the allowed packages bound read-only one by one under
    /tmp/.site; the interpreter's tree read-only under /tmp/.python (its site-packages
    covered); the work directory at its own path.  With ``chroot`` everything is assembled in a
    new root that holds only the system directories (/usr, /lib..., a few /etc files and device
    nodes, a fresh /proc) and the process chroots into it; otherwise the ``hide`` directories are
    covered with empty tmpfs.
    """
    import glob

    libc = _libc()
    _mount(libc, None, "/", None, _MS_REC | _MS_PRIVATE, None)
    workdir = cfg["workdir"]
    prefix = os.path.realpath(sys.base_prefix)
    sources = {"workdir": workdir, "prefix": prefix}
    for name, path in cfg.get("packages") or ():
        sources["pkg:" + name] = path
    fds = {k: os.open(p, os.O_PATH) for k, p in sources.items()}
    # the submission copy and the read-only data/ folder, moved into a size-limited tmpfs below
    tree = []  # (relative path, None for a folder or the bytes of a file, mode)
    for folder, _dirs, names in os.walk(workdir, followlinks=False):
        rel = os.path.relpath(folder, workdir)
        if rel != ".":
            tree.append((rel, None, os.stat(folder).st_mode & 0o777))
        for name in names:
            path = os.path.join(folder, name)
            if not os.path.islink(path) and os.path.isfile(path):
                with open(path, "rb") as fh:
                    tree.append((os.path.normpath(os.path.join(rel, name)), fh.read(),
                                 os.stat(path).st_mode & 0o777))
    fd_path = {k: f"/proc/self/fd/{fd}" for k, fd in fds.items()}
    chroot = bool(cfg.get("chroot"))
    space = int(cfg.get("workdir_bytes") or 64 << 20)
    _mount(libc, "tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, "size=256m,mode=1777")
    base = ""
    if chroot:
        base = "/tmp/.root"
        os.mkdir(base, 0o755)
        _mount(libc, "tmpfs", base, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=755")
        for d in _SYSTEM_DIRS:
            src = "/" + d
            if os.path.islink(src):
                os.symlink(os.readlink(src), base + src)
            elif os.path.isdir(src):
                _bind(libc, src, base + src, recursive=True)
        os.makedirs(base + "/etc")
        uid = cfg.get("uid")
        with open(base + "/etc/passwd", "w") as fh:
            fh.write("root:x:0:0:root:/root:/usr/sbin/nologin\n")
            if uid is not None:
                fh.write(f"student:x:{uid}:{cfg['gid']}:student:{workdir}:/usr/sbin/nologin\n")
        with open(base + "/etc/group", "w") as fh:
            fh.write("root:x:0:\n")
            if uid is not None:
                fh.write(f"student:x:{cfg['gid']}:\n")
        for f in _ETC_FILES:
            src = "/etc/" + f
            if os.path.islink(src):
                os.symlink(os.readlink(src), base + src)
            elif os.path.isfile(src):
                _bind(libc, src, base + src)
        for d in _DEVICES:
            if os.path.exists("/dev/" + d):
                _bind(libc, "/dev/" + d, base + "/dev/" + d, readonly=False)
        os.makedirs(base + "/proc")
        _mount(libc, "proc", base + "/proc", "proc", _MS_NOSUID | _MS_NODEV | 8, None)
        os.makedirs(base + "/tmp")
        _mount(libc, "tmpfs", base + "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV,
               f"size={space},mode=1777")
        for pattern in _SITE_GLOBS:
            for d in glob.glob(base + pattern):
                _cover(libc, d)
    # The work directory: a fresh tmpfs at the same path, limited to ``space`` bytes, holding a
    # copy of the submission; nothing the student writes reaches the grader's disk.
    os.makedirs(base + workdir, exist_ok=True)
    owner = "" if cfg.get("uid") is None else f",uid={cfg['uid']},gid={cfg['gid']}"
    _mount(libc, "tmpfs", base + workdir, "tmpfs", _MS_NOSUID | _MS_NODEV,
           f"size={space},mode=700{owner}")
    folders = []
    for rel, data, mode in tree:
        path = os.path.join(base + workdir, rel)
        if data is None:
            os.makedirs(path, exist_ok=True)
            folders.append((path, mode))
            continue
        with open(path, "wb") as fh:
            fh.write(data)
        if os.sep not in rel and cfg.get("uid") is not None:  # the submission: the student's
            os.chown(path, cfg["uid"], cfg["gid"])
        else:  # data: read-only, the grader's
            os.chmod(path, mode)
    for path, mode in reversed(folders):
        os.chmod(path, mode)
    _bind(libc, fd_path["prefix"], base + "/tmp/.python", recursive=True)
    ver = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for sub in ("lib/" + ver + "/site-packages", "lib64/" + ver + "/site-packages",
                "lib/" + ver + "/dist-packages", "local/lib/" + ver + "/dist-packages"):
        if os.path.isdir(os.path.join(base + "/tmp/.python", sub)):
            _cover(libc, os.path.join(base + "/tmp/.python", sub))
    cfg["path_map"] = [prefix, "/tmp/.python"]
    for key, path in fd_path.items():
        if key.startswith("pkg:"):
            _bind(libc, path, base + "/tmp/.site/" + key[4:])
    cfg["site_dirs"] = ["/tmp/.site"]
    hidden = 0
    keep_paths = [workdir, "/tmp/.site", "/tmp/.python"]
    for d in cfg.get("hide") or ():
        if any(k == d or k.startswith(d.rstrip("/") + "/") for k in keep_paths):
            continue
        if os.path.isdir(base + d):
            _cover(libc, base + d)
            hidden += 1
    for fd in fds.values():
        os.close(fd)
    if chroot:
        os.chroot(base)
        os.chdir("/")
        notes.append("chroot holding only system directories")
    notes.append("private /tmp")
    if hidden:
        notes.append(f"{hidden} grader directories hidden")


def _set_rlimits(limits, strict):
    """Apply the limits; a limit the platform refuses is fatal when ``strict`` (grading as root),
    else skipped and returned (e.g. RLIMIT_AS on macOS, for students checking their own work)."""
    skipped = []
    for name, value in limits.items():
        which = getattr(resource, name, None)
        if which is None:
            skipped.append(name)
            continue
        soft = hard = int(value)
        if name == "RLIMIT_CPU":
            hard = soft + 1
        _, cur_hard = resource.getrlimit(which)
        if cur_hard != resource.RLIM_INFINITY and hard > cur_hard:
            hard = cur_hard
            soft = min(soft, hard)
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            if strict:
                raise
            skipped.append(name)
    return skipped


def _no_new_privileges():
    """No set-uid/set-gid/file-capability gains from here on (sudo, su, ping ...), in every mode."""
    import ctypes
    if not sys.platform.startswith("linux"):
        return
    pr_set_no_new_privs = 38
    if _libc().prctl(pr_set_no_new_privs, ctypes.c_ulong(1), ctypes.c_ulong(0),
                     ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        raise OSError("prctl(PR_SET_NO_NEW_PRIVS) failed")


def _drop_privileges(uid, gid):
    import ctypes
    libc = _libc()
    pr_set_pdeathsig = 1
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    libc.prctl(pr_set_pdeathsig, ctypes.c_ulong(9), ctypes.c_ulong(0),
               ctypes.c_ulong(0), ctypes.c_ulong(0))
    if os.getuid() != uid or os.geteuid() != uid:
        raise OSError("could not drop privileges")


# ----------------------------------------------------------------------------- student code

def _one_line(exc):
    name = _type(exc).__name__
    try:
        detail = _str(exc)
        text = f"{name}: {detail}" if detail else name
    except BaseException:  # a hostile __str__
        text = name
    text = " ".join(text.split())
    return text[:_MAX_TEXT]


def _student_tb(exc, labels):
    """Traceback text with only the frames from the submission's own cells."""
    try:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in labels]
        text = "".join(traceback.format_list(frames))
        text += "".join(traceback.format_exception_only(_type(exc), exc))
    except BaseException:  # a hostile exception object
        text = _one_line(exc) + "\n"
    return text[-8 * _MAX_TEXT:]


def _find_forbidden(exc):
    seen = 0
    while exc is not None and seen < 20:
        if _isinstance(exc, ForbiddenImport):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _classify(exc, labels, what):
    """(status, message, traceback) for an exception escaping student code."""
    tb = _student_tb(exc, labels)
    forbidden = _find_forbidden(exc)
    if forbidden is not None:
        return "forbidden_import", f"{what}: {_one_line(forbidden)}", tb
    if _isinstance(exc, SystemExit):
        return "crashed", f"{what} called sys.exit({exc.code!r}); never exit from a function", tb
    if not _isinstance(exc, Exception):
        return "crashed", f"{what} raised {_one_line(exc)} (a BaseException, not an Exception)", tb
    if _isinstance(exc, NotImplementedError):
        return "not_implemented", f"{what} is not implemented yet ({_one_line(exc)})", tb
    if _isinstance(exc, MemoryError):
        return "error", f"{what} ran out of memory (MemoryError: memory limit reached)", tb
    return "error", f"{what} raised {_one_line(exc)}", tb


_FORBIDDEN = ()


_CLEAN_MODULES = set()  # names in sys.modules already found not to be forbidden


def _forbidden_loaded():
    """A forbidden module that got imported anyway (e.g. after removing the import hook).

    Only names not seen before are examined (a name once found clean stays clean), so a call
    costs a set difference instead of a scan of every loaded module.
    """
    fresh = sys.modules.keys() - _CLEAN_MODULES
    for name in fresh:
        for bad in _FORBIDDEN:
            if name == bad or name.startswith(bad + "."):
                return bad
    _CLEAN_MODULES.update(fresh)
    return None


class _State:
    def __init__(self):
        self.namespace = None
        self.labels = set()
        self.name = "submission"
        self.capture = None
        self.ready = False
        self.cell = ""  # label of the cell being loaded


class _Shell:
    """What IPython-transformed notebook code calls through ``get_ipython()``.

    Magics and shell commands do not run in the grader: each is skipped with a load warning
    naming the cell; the cell magics whose body is plain Python (``%%time`` & co.) run it once.
    """

    _RUN_BODY = ("time", "timeit", "capture", "prun")

    def __init__(self, state, warnings):
        self._state = state
        self._warnings = warnings

    def _skip(self, what):
        if _len(self._warnings) < 50:
            what = " ".join(_str(what).split())[:80]
            self._warnings.append(f"{self._state.cell}: {what} skipped (IPython magics and shell "
                                  "commands do not run in the grader)")

    def run_line_magic(self, name, line, _stack_depth=1):
        self._skip(f"%{name} {line}")

    def run_cell_magic(self, name, line, cell):
        if name in self._RUN_BODY:
            exec(compile(cell, self._state.cell, "exec", dont_inherit=True), self._state.namespace)
            return None
        self._skip(f"%%{name} {line}")
        return None

    def system(self, cmd):
        self._skip(f"!{cmd}")

    def getoutput(self, cmd, split=True, depth=0):
        self._skip(f"!{cmd}")
        return []


def _is_empty(cells):
    """True when no cell holds a statement other than a docstring (comments do not count)."""
    import ast
    for _, src in cells:
        try:
            body = ast.parse(src).body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return False
        for node in body:
            docstring = (_isinstance(node, ast.Expr) and _isinstance(node.value, ast.Constant)
                         and _type(node.value.value) is _str)
            if not docstring:
                return False
    return True


_BUILTINS = dict(builtins.__dict__)


def _restore_builtins():
    """Undo the student's patches of builtins, which would break this runner."""
    current = builtins.__dict__
    for key, value in _BUILTINS.items():
        if current.get(key) is not value:
            current[key] = value


def _load(state, msg):
    name = msg["name"]
    stem = name.rsplit(".", 1)[0]
    if not stem.isidentifier() or stem in sys.modules or stem in sys.stdlib_module_names:
        stem = "submission"  # never shadow numpy, json, ... (a file called numpy.py)
    import types
    module = types.ModuleType(stem)
    module.__file__ = os.path.join(os.getcwd(), name)
    sys.modules[stem] = module
    state.namespace = module.__dict__
    state.name = name
    cells = msg["cells"]
    state.labels = {label for label, _ in cells}
    warnings = []
    reply = {"op": "loaded", "status": "ok", "message": "", "traceback": "", "warnings": warnings}
    if _is_empty(cells):
        reply.update(status="empty", message=f"{name} contains no code; submit the file with "
                     "your functions")
        reply["functions"] = []
        return reply
    notebook = _len(cells) > 1 or name.endswith(".ipynb")
    if notebook:  # IPython's display() is a builtin in Jupyter; here it prints
        state.namespace["display"] = lambda *objects, **_: print(*objects)
        shell = _Shell(state, warnings)
        state.namespace["get_ipython"] = lambda: shell
    for label, src in cells:
        state.cell = label
        try:
            code = compile(src, label, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            line = getattr(exc, "lineno", None)
            where = f"{label}, line {line}" if line else label
            text = f"syntax error in {where}: {getattr(exc, 'msg', None) or _one_line(exc)}"
            if notebook:
                warnings.append(text)
                continue
            reply.update(status="syntax_error", message=text,
                         traceback="".join(traceback.format_exception_only(_type(exc), exc)))
            break
        try:
            exec(code, state.namespace)
        except BaseException as exc:  # student code: anything may come out
            _restore_builtins()
            status, text, tb = _classify(exc, state.labels, f"running {label}")
            if notebook and status in ("error", "not_implemented"):
                warnings.append(text)
                continue
            if status in ("error", "not_implemented"):
                status = "import_error"
            reply.update(status=status, message=text, traceback=tb)
            break
        finally:
            _restore_builtins()
    sneaked = _forbidden_loaded()
    if sneaked and reply["status"] == "ok":
        reply.update(status="forbidden_import",
                     message=f"{name} imported {sneaked!r}, which this exercise does not allow")
    reply["functions"] = sorted(
        k for k, v in list(state.namespace.items())
        if _type(k) is _str and not k.startswith("_") and _defined_here(v, stem)
    ) if reply["status"] == "ok" else []
    return reply


def _defined_here(value, stem):
    """Is ``value`` a callable the submission defined (not a function/class it imported)?

    Callable objects such as ``np.vectorize(f)`` or ``functools.partial(f)`` count as defined:
    their ``__module__`` names the library, yet the student made them.
    """
    import types
    try:
        if not callable(value) or _isinstance(value, types.ModuleType):
            return False
        if _isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)):
            return getattr(value, "__module__", None) == stem
        return True
    except BaseException:  # a hostile __getattr__ / __class__
        return False


def _call(state, msg, np, pd):
    reply = {"op": "result", "id": msg["id"], "status": "ok", "value": None, "message": "",
             "traceback": ""}
    fname = msg["function"]
    fn = state.namespace.get(fname) if state.namespace is not None else None
    if fn is None or not callable(fn):
        defined = sorted(k for k, v in (state.namespace or {}).items()
                         if callable(v) and not k.startswith("_"))
        reply.update(status="missing", message=(
            f"{state.name} does not define a function {fname!r}"
            + (f" (it defines: {', '.join(defined[:10])})" if defined else "")))
        return reply
    try:
        args = [_decode(a, np) for a in msg["args"]]
        kwargs = {k: _decode(v, np) for k, v in msg["kwargs"].items()}
    except Exception as exc:
        reply.update(status="crashed", message=f"the runner could not decode the arguments: {exc}")
        return reply
    try:
        value = fn(*args, **kwargs)
    except BaseException as exc:  # student code: anything may come out
        _restore_builtins()
        status, text, tb = _classify(exc, state.labels, f"{fname}()")
        reply.update(status=status, message=text, traceback=tb)
        return reply
    finally:
        _restore_builtins()
    sneaked = _forbidden_loaded()
    if sneaked:
        reply.update(status="forbidden_import",
                     message=f"{fname}() imported {sneaked!r}, which this exercise does not allow")
        return reply
    try:
        reply["value"] = _encode(value, np, pd if "pandas" in sys.modules else None)
    except _Unserialisable as exc:
        reply.update(status="invalid_output", message=f"{fname}() {exc}")
    except BaseException as exc:  # hostile __len__, __iter__, ...
        reply.update(status="invalid_output", message=(
            f"{fname}() returned a value that could not be read ({_one_line(exc)})"))
    return reply


def _calls(state, msg, np, pd, out):
    """Answer ``{"op": "calls", "id", "function", "args_list": [[...], ...]}``: one call per
    argument list, in order, each answered at once with its own ``result`` line (``index`` says
    which), so the parent times and limits every call as if it had been sent alone."""
    for index, args in enumerate(msg["args_list"]):
        started = time.perf_counter()
        reply = _call(state, {"id": msg["id"], "function": msg["function"], "args": args,
                              "kwargs": {}}, np, pd)
        reply["index"] = index
        _answer(state, out, reply, started)


def _answer(state, out, reply, started):
    """Send ``reply`` with the output captured since ``started`` (and a plain crash reply when
    the student's value made it unsendable)."""
    _restore_builtins()
    sys.stdout = sys.stderr = state.capture  # in case the student replaced them
    reply["stdout"] = state.capture.take()
    reply["child_seconds"] = time.perf_counter() - started
    try:
        _send(out, reply)
    except (TypeError, ValueError) as exc:
        _send(out, {"op": reply.get("op"), "id": reply.get("id"), "index": reply.get("index"),
                    "status": "crashed", "message": f"the runner could not send its reply: {exc}"})


# ----------------------------------------------------------------------------- main loop

def _fork_init(*protocol_fds):
    """As pid 1 of a new PID namespace: fork the worker and stay behind as a minimal init.

    The kernel shields a namespace's init from signals it has no handler for (SIGXCPU from the
    CPU limit, SIGTERM sent by the student), so student code must not run as pid 1.  The init
    closes the protocol pipes, reaps orphans, and exits with the worker's status (128 + signal
    number if it was killed by a signal); its exit ends the namespace and every process in it.
    """
    global _MY_PID
    pid = os.fork()
    if pid == 0:
        _MY_PID = os.getpid()
        return
    for fd in protocol_fds:
        os.close(fd)
    while True:
        try:
            done, status = os.wait()
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            continue
        if done == pid:
            if os.WIFSIGNALED(status):
                os._exit(128 + os.WTERMSIG(status))
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _send(out, obj):
    if os.getpid() != _MY_PID:  # a fork of the student's must never answer
        os._exit(0)
    line = json.dumps(obj, allow_nan=False, separators=(",", ":")) + "\n"
    out.write(line.encode("utf-8"))
    out.flush()


def main(argv):
    req = os.fdopen(int(argv[1]), "rb", buffering=0)
    out = os.fdopen(int(argv[2]), "wb", buffering=1 << 16)
    req_lines = io.BufferedReader(req, 1 << 16)
    state = _State()
    np = pd = None
    while True:
        line = req_lines.readline()
        if not line:
            os._exit(0)  # the grader is gone; skip the student's atexit handlers and threads
        msg = json.loads(line)
        op = msg.get("op")
        if op == "exit":
            out.flush()
            os._exit(0)
        if op == "setup":
            try:
                notes = _setup(msg)
                import numpy as np
            except BaseException as exc:
                _send(out, {"op": "setup_failed", "message": _one_line(exc)})
                return 3
            if os.getpid() == 1:
                _fork_init(req.fileno(), out.fileno())
                notes.append("init process")
            cap = int(msg.get("stdout_bytes") or 65536)
            state.capture = _Capture(cap)
            import faulthandler
            faulthandler.enable(file=2)  # a segfault's Python stack goes to the parent's pipe
            sys.stdout = sys.stderr = state.capture
            state.ready = True
            _send(out, {"op": "ready", "pid": os.getpid(), "uid": os.getuid(),
                        "host_uid": _host_uid(), "isolation": notes})
            continue
        if not state.ready:  # no student code before a successful set-up
            _send(out, {"op": "error", "message": "the runner is not set up"})
            continue
        started = time.perf_counter()
        if op == "calls":
            if pd is None and "pandas" in sys.modules:
                pd = sys.modules["pandas"]
            _calls(state, msg, np, pd, out)
            continue
        if op == "load":
            reply = _load(state, msg)
        elif op == "call":
            if pd is None and "pandas" in sys.modules:
                pd = sys.modules["pandas"]
            reply = _call(state, msg, np, pd)
        else:
            reply = {"op": "error", "message": f"unknown op {op!r}"}
        _answer(state, out, reply, started)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
