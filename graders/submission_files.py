"""Reading untrusted submission files without following links or blocking.

A submission folder is supplied by students (or by a course server holding what students
uploaded), so a name in it may be a symbolic link to the answer key, to ``/proc/self/environ``
or to a pipe that never ends.  Every submission the grader reads goes through
:func:`read_regular_file`: the last component is opened with ``O_NOFOLLOW`` (a link is refused,
not followed) and ``O_NONBLOCK`` (a FIFO or device cannot hang the grader), the open file must be
a regular file, and at most ``max_bytes`` are read.  With ``directory_fd`` the name is resolved
relative to an already opened folder, so nothing outside that folder can be reached.
"""

from __future__ import annotations

import os
import stat

from graders.grading_errors import SubmissionNotFoundError

__all__ = ["MAX_SUBMISSION_BYTES", "UnsafeSubmission", "open_directory", "read_regular_file"]

#: Largest submission read (a notebook with plots can be a few MB; a solution never needs more).
MAX_SUBMISSION_BYTES = 16 << 20


class UnsafeSubmission(SubmissionNotFoundError):
    """The submission is a link, not a regular file, too large or unreadable."""


def open_directory(path: str | os.PathLike[str], *, directory_fd: int | None = None) -> int:
    """Open a folder without following a link in its last component; the caller closes the fd."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(path, flags, dir_fd=directory_fd)
    except OSError as exc:
        raise UnsafeSubmission(_why(os.fspath(path), exc, "folder")) from None


def read_regular_file(path: str | os.PathLike[str], *, directory_fd: int | None = None,
                      max_bytes: int = MAX_SUBMISSION_BYTES) -> bytes:
    """The bytes of the regular file ``path`` (relative to ``directory_fd`` when given).

    Raises:
        UnsafeSubmission: a symbolic link, a folder, FIFO or device, a file larger than
            ``max_bytes``, or a file that cannot be opened; the message names the file (as the
            caller spelled it) and says what to do, and never quotes the file's contents.
    """
    name = os.fspath(path)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(name, flags, dir_fd=directory_fd)
    except OSError as exc:
        raise UnsafeSubmission(_why(name, exc, "file")) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeSubmission(f"submission {name!r} is not a regular file; submit the "
                                   ".py or .ipynb file itself")
        if info.st_size > max_bytes:
            raise UnsafeSubmission(f"submission {name!r} is {info.st_size} bytes, more than the "
                                   f"limit of {max_bytes >> 20} MiB; remove large outputs")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise UnsafeSubmission(f"submission {name!r} is more than {max_bytes >> 20} MiB; "
                                       "remove large outputs")
        return b"".join(chunks)
    except BlockingIOError:
        raise UnsafeSubmission(f"submission {name!r} cannot be read without waiting; submit a "
                               "regular file") from None
    except OSError as exc:
        raise UnsafeSubmission(_why(name, exc, "file")) from None
    finally:
        os.close(fd)


def _why(name: str, exc: OSError, what: str) -> str:
    import errno

    if exc.errno == errno.ELOOP or (exc.errno == errno.ENOTDIR and what == "folder"):
        return (f"submission {name!r} is a symbolic link; submit the {what} itself, "
                "links are not followed")
    if exc.errno == errno.ENOENT:
        return f"submission {name!r} does not exist; pass the path of your .py or .ipynb file"
    if exc.errno == errno.EISDIR:
        return f"submission {name!r} is a folder; pass a .py or .ipynb file"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"cannot read submission {name!r} (permission denied); check its permissions"
    return f"cannot read submission {name!r} ({exc.strerror}); submit a regular file"
