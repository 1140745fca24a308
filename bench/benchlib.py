"""What the Python benches share: where the build is, the memif wire, children that cannot
outlive the bench, and CPU time as the scheduler counts it."""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("TAPREC_BUILD", os.path.join(ROOT, "build"))
TAPREC = os.path.join(BUILD, "daemon", "taprec")
GEN = os.path.join(BUILD, "bench", "taprec_gen")
SEQCHECK = os.path.join(BUILD, "bench", "seqcheck")
STALL_PROBE = os.path.join(BUILD, "bench", "stall_probe")
RESULTS = os.path.join(ROOT, "bench", "results")
SHM = "/dev/shm"
# The generator takes one core, the receiver under test (taprec or a peer) the other.
GEN_CORE, RX_CORE = 0, 1
RING_SLOTS = 16384  # per memif port, see memif()

_children = []


def require_programs(bench, programs):
    """Exits at once naming the Debian package of each program (name -> package) that is
    missing, rather than failing later on a broken pipe; scripts/install-deps installs them all."""
    missing = [f"{name} (Debian package {package})" for name, package in programs.items()
               if shutil.which(name) is None]
    if missing:
        sys.exit(f"{bench}: missing {', '.join(missing)}; run scripts/install-deps")


def spawn(cmd, **kwargs):
    """Popen that kill_children() reaps, whatever happens: a left-over poller would spin on a
    core and spoil every later measurement."""
    proc = subprocess.Popen(cmd, **kwargs)
    _children.append(proc)
    return proc


def kill_children():
    for proc in _children:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def memif(index, role, sockdir, direction):
    """The vdev argument of one memif link (one TAP direction, socket sockdir/direction.sock)."""
    # rsize=14: the client (every receiver here) builds the rings, and 16,384 slots is the most
    # the memif PMD allows, as a sensor's NIC is given its most RX descriptors. This VM stalls a
    # vCPU for 0.6-8 ms hundreds of times a minute (bench/stall_probe); the default 1,024 slots
    # overflow in such a stall even for testpmd at 10 % of its ceiling, 16,384 mostly do not.
    ring = ",rsize=14" if role == "client" else ""
    return (f"net_memif{index},role={role},id=0,socket={sockdir}/{direction}.sock,"
            f"socket-abstract=no{ring}")


def cpu_seconds(pid):
    """CPU time of every thread of the process so far, from the scheduler's own run-time
    accounting (/proc/PID/task/*/schedstat, nanoseconds); 0.0 once the process is gone.
    utime+stime in /proc/PID/stat are sampled at the timer tick: a recorder that wakes up
    briefly many times a second is charged by chance (on 1 M packets, taprec read 13-15 ticks
    while perf stat measured 108-134 ms of task-clock)."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended in between
    return total / 1e9
