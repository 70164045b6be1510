"""Enter a running container and run a command there with the container's privileges only.

Run by the server once as a fork server, `python -I -S enter.py --serve FD` (see
`exec_server.py`), which forks per request; or standalone for one command as
`python -I -S enter.py PID CGROUP_PROCS KEEP_CAPS WORKDIR PTY -- CMD...`. Everything that needs the host's full privileges happens here,
in the host's trusted interpreter, *before* any file of the container is executed or
loaded: join the container's cgroups; `setns` into its ipc, uts, net, pid and mount
namespaces; `chroot` to its root; drop the capability bounding set and the permitted,
effective and inheritable sets to the container's (Docker's default) set; set
`no_new_privs`; fork (to be inside the pid namespace) and only then `execvp` the command.

Running a container binary (say the image's `setpriv`) to drop the privileges would hand a
root process with every host capability to a file the container can replace. Imports are
disabled once the container's mount namespace is entered, so no module can be loaded
from the container's files either. The parent stays behind to forward signals and to
exit with the command's status (128+N for signal N).

This file uses only the standard library and must stay importable on its own.
"""

import ctypes
import fcntl
import os
import signal
import sys
import termios
import warnings  # noqa: F401 - os.execvp imports it lazily, and imports stop once inside

_NAMESPACES = ("ipc", "uts", "net", "pid", "mnt")  # mnt last: /proc paths are the host's until then
_PR_SET_DUMPABLE = 4
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_CAP_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _fail(message: str, code: int = 126) -> None:
    os.write(2, f"nodal exec: {message}\n".encode(errors="replace"))
    os._exit(code)


def _enter(pid: int, procs: list, keep, workdir: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    # Not dumpable until the command is exec'd (execve makes it dumpable again): the container
    # cannot ptrace or read the memory of this process, which is a copy of the fork server's.
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        _fail("could not make the process undumpable")
    for path in procs:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)
    flags = os.O_RDONLY | os.O_CLOEXEC
    ns_fds = [os.open(f"/proc/{pid}/ns/{ns}", flags) for ns in _NAMESPACES]
    root_fd = os.open(f"/proc/{pid}/root", flags | os.O_DIRECTORY)
    cwd_fd = os.open(f"/proc/{pid}/cwd", flags | os.O_DIRECTORY)
    sys.meta_path[:] = []  # from here on nothing may be imported (the container's files are next)
    sys.path[:] = []
    for fd in ns_fds:
        if libc.setns(fd, 0) != 0:
            _fail(f"setns: {os.strerror(ctypes.get_errno())}")
        os.close(fd)
    os.fchdir(root_fd)
    os.chroot(".")
    if workdir:
        try:
            os.chdir(workdir)
        except OSError as e:
            _fail(f"workdir {workdir}: {e.strerror}")
    else:
        os.fchdir(cwd_fd)
    os.close(root_fd)
    os.close(cwd_fd)
    if keep is None:  # an unprivileged caller: nothing to drop, but still no gaining
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            _fail("could not set no_new_privs")
        return
    for cap in range(64):
        if cap not in keep and libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != 22:
            _fail(f"could not drop capability {cap}")
    mask = 0
    for cap in keep:
        mask |= 1 << cap
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)(
        _CapData(mask & 0xFFFFFFFF, mask & 0xFFFFFFFF, 0), _CapData(mask >> 32, mask >> 32, 0)
    )
    if libc.capset(ctypes.byref(header), data) != 0:
        _fail(f"capset: {os.strerror(ctypes.get_errno())}")
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        _fail("could not set no_new_privs")


def _run(pid: int, procs: list, keep, workdir: str, pty: bool, command: list, env: dict | None) -> None:
    """Enter, fork into the pid namespace, exec `command` there; wait and exit with its status."""
    try:
        _enter(pid, procs, keep, workdir)
    except OSError as e:
        _fail(f"cannot enter the container: {e}")
    if pty:  # a session whose controlling terminal is the PTY on stdin (the child inherits both)
        try:
            os.setsid()
        except OSError:
            pass  # already a session leader
        try:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        except OSError as e:
            _fail(f"cannot take the terminal: {e.strerror}")
    child = os.fork()
    if child == 0:
        try:
            if env is None:
                os.execvp(command[0], command)
            else:
                os.execvpe(command[0], command, env)
        except OSError as e:
            _fail(f"{command[0]}: {e.strerror}", 127 if isinstance(e, FileNotFoundError) else 126)
        os._exit(127)

    def forward(sig, _frame) -> None:
        try:
            os.kill(child, sig)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, forward)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            os._exit(1)
    code = os.waitstatus_to_exitcode(status)
    os._exit(128 - code if code < 0 else code)


def _keep_caps(text: str):
    return None if text == "-" else {int(c) for c in text.split(",") if c}


def main(argv: list) -> None:
    try:
        sep = argv.index("--")
        pid_s, procs_s, keep_s, workdir, pty_s = argv[:sep]
        command = argv[sep + 1 :]
    except ValueError:
        _fail("usage: enter.py PID CGROUP_PROCS KEEP_CAPS WORKDIR PTY -- CMD...", 2)
    if not command:
        _fail("no command", 2)
    _run(int(pid_s), procs_s.split(), _keep_caps(keep_s), workdir, pty_s == "1", command, None)


def serve(sock_fd: int) -> None:
    """The fork server: one request per SEQPACKET message (JSON + stdin/stdout/stderr fds).

    Replies `{"id", "pid"}` once the process is forked and `{"id", "exit"}` when it ends. A
    pre-started interpreter forks in about a millisecond, where starting one takes 15+ ms."""
    import array
    import json
    import select
    import socket

    sock = socket.socket(fileno=sock_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server's terminal Ctrl-C is the server's to handle
    children = {}

    def reap() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            req_id = children.pop(pid, None)
            if req_id is not None:
                code = os.waitstatus_to_exitcode(status)
                sock.send(json.dumps({"id": req_id, "exit": 128 - code if code < 0 else code}).encode())

    while True:
        try:
            readable, _, _ = select.select([sock, wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in readable:
            try:
                while os.read(wake_r, 4096):
                    pass
            except BlockingIOError:
                pass
        reap()
        if sock not in readable:
            continue
        fds = array.array("i")
        msg, ancdata, _flags, _addr = sock.recvmsg(1 << 20, socket.CMSG_SPACE(3 * fds.itemsize))
        if not msg:
            os._exit(0)  # the server is gone
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
        req = json.loads(msg)
        child = os.fork()
        if child == 0:
            try:
                signal.set_wakeup_fd(-1)
                for sig in (signal.SIGCHLD, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                for target, fd in enumerate(list(fds)[:3]):
                    os.dup2(fd, target)
                for fd in {*fds, wake_r, wake_w, sock.fileno()}:
                    if fd > 2:
                        os.close(fd)
                if not req["pty"]:
                    os.setsid()  # its own process group: the server signals the whole group
                _run(req["pid"], req["procs"], _keep_caps(req["keep"]), req["workdir"], req["pty"],
                     req["argv"], req["env"])
            except BaseException as exc:  # noqa: BLE001 - a child never returns into the loop
                _fail(f"internal error: {type(exc).__name__}: {exc}")
            os._exit(126)
        for fd in fds:
            os.close(fd)
        children[child] = req["id"]
        sock.send(json.dumps({"id": req["id"], "pid": child}).encode())


if __name__ == "__main__":
    try:
        if sys.argv[1:2] == ["--serve"]:
            serve(int(sys.argv[2]))
        else:
            main(sys.argv[1:])
    except BaseException as exc:  # noqa: BLE001 - never print a traceback (it would read container files)
        _fail(f"internal error: {type(exc).__name__}: {exc}")
