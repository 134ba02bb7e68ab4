"""Hostile and awkward SSH clients for the gateway's tests and bench/sftp, on paramiko from .local/venv.

Every mode talks to one HOST:PORT only (the tests pass 127.0.0.1) and ends by itself.

  hostile_client.py retry HOST PORT USER WRONG_KEY RIGHT_KEY PASSWORD
      Two logins the paramiko way (a new ssh-userauth service request before each attempt):
      a wrong key then the right key, and a wrong key then the password; each lists / after login.
      Prints "retry ok" when both worked.

  hostile_client.py exhaust HOST PORT USER KEY COUNT
      One connection that offers KEY (not the user's) COUNT times, one after the other, the paramiko
      way. Prints one JSON line: how many were refused before the server closed the connection.

  hostile_client.py pipeline HOST PORT SOURCE USER COUNT
      One connection from SOURCE that sends COUNT password requests without waiting for answers,
      then counts the answers until the server closes it (or 30 s pass). Prints one JSON line.

  hostile_client.py attack HOST PORT SECONDS HOLD_SOURCE HOLD_COUNT PIPE_SOURCE PIPE_WORKERS
      For SECONDS: HOLD_COUNT connections from HOLD_SOURCE that send a version line and then
      nothing, and PIPE_WORKERS threads from PIPE_SOURCE that each connect, pipeline 10 (half of
      them) or 6 password requests (user without a password, unknown user, user with one), read the
      answers for 1.5 s or until closed, and connect again. Prints one JSON summary line at the end and closes everything.
"""
import json
import logging
import os
import selectors
import socket
import sys
import threading
import time

import paramiko
from paramiko.common import (
    MSG_SERVICE_ACCEPT,
    MSG_USERAUTH_BANNER,
    MSG_USERAUTH_FAILURE,
    MSG_USERAUTH_SUCCESS,
    cMSG_SERVICE_REQUEST,
    cMSG_USERAUTH_REQUEST,
)


def connect(host, port, source, timeout=10.0):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect((host, port))
    return sock


def load_key(path):
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey):
        try:
            return cls.from_private_key_file(path)
        except (paramiko.SSHException, ValueError):
            continue
    raise SystemExit(f"cannot read key {path}")


def retry(host, port, user, wrong_key, right_key, password):
    wrong, right = load_key(wrong_key), load_key(right_key)
    for label, second in (("key", lambda t: t.auth_publickey(user, right)),
                          ("password", lambda t: t.auth_password(user, password))):
        t = paramiko.Transport(connect(host, port, "127.0.0.1"))
        t.start_client(timeout=10)
        try:
            t.auth_publickey(user, wrong)
            raise SystemExit("the wrong key was accepted")
        except paramiko.AuthenticationException:
            print("wrong key refused")
        second(t)  # paramiko sends ssh-userauth again here
        assert t.is_authenticated(), f"{label}: not authenticated"
        sftp = paramiko.SFTPClient.from_transport(t)
        print(f"wrong key, then {label}: logged in, / has", sftp.listdir("/"))
        sftp.close()
        t.close()
    print("retry ok")


def exhaust(host, port, user, keyfile, count):
    key = load_key(keyfile)
    t = paramiko.Transport(connect(host, port, "127.0.0.1"))
    t.start_client(timeout=10)
    refused = 0
    for _ in range(count):
        try:
            t.auth_publickey(user, key)
            raise SystemExit("the key was accepted")
        except paramiko.AuthenticationException:
            if not t.is_active():
                break
            refused += 1
        except (paramiko.SSHException, EOFError, OSError):
            break
    print(json.dumps({"refused_then_open": refused, "closed": not t.is_active()}), flush=True)
    t.close()


class Answers:
    """Stands in for paramiko's AuthHandler: counts what the server answers to raw auth requests."""

    def __init__(self):
        self.accepted = threading.Event()
        self.closed = threading.Event()
        self.failures = 0
        self.successes = 0
        self._handler_table = {
            MSG_SERVICE_ACCEPT: lambda m: self.accepted.set(),
            MSG_USERAUTH_FAILURE: self._failure,
            MSG_USERAUTH_SUCCESS: self._success,
            MSG_USERAUTH_BANNER: lambda m: None,
        }

    def _failure(self, m):
        self.failures += 1

    def _success(self, m):
        self.successes += 1

    def is_authenticated(self):
        return False

    def abort(self):
        self.closed.set()


def pipelined(host, port, source, users, password, count, wait=30.0):
    """One connection, `count` password requests sent back to back. None if refused before the key exchange."""
    try:
        sock = connect(host, port, source)
        t = paramiko.Transport(sock)
        t.start_client(timeout=10)
    except (OSError, paramiko.SSHException, EOFError):
        return None
    answers = Answers()
    t.auth_handler = answers
    started = time.monotonic()
    try:
        m = paramiko.Message()
        m.add_byte(cMSG_SERVICE_REQUEST)
        m.add_string("ssh-userauth")
        t._send_message(m)
        if not answers.accepted.wait(10):
            t.close()
            return {"failures": 0, "successes": 0, "closed": not t.is_active(), "seconds": 0}
        for i in range(count):
            m = paramiko.Message()
            m.add_byte(cMSG_USERAUTH_REQUEST)
            m.add_string(users[i % len(users)])
            m.add_string("ssh-connection")
            m.add_string("password")
            m.add_boolean(False)
            m.add_string(password)
            t._send_message(m)
    except (OSError, paramiko.SSHException, EOFError):
        pass
    deadline = time.monotonic() + wait
    while t.is_active() and time.monotonic() < deadline:
        if answers.failures + answers.successes >= count:
            break
        time.sleep(0.02)
    closed = not t.is_active()
    t.close()
    return {"failures": answers.failures, "successes": answers.successes, "closed": closed,
            "seconds": round(time.monotonic() - started, 2)}


def hold(host, port, source, count, until, result):
    """`count` connections that say their version and then nothing; which of them the server keeps."""
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(count):
        try:
            s = connect(host, port, source, timeout=5)
            s.sendall(b"SSH-2.0-hold\r\n")
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, {"banner": False, "open": True})
            socks.append(s)
        except OSError:
            result["connect_errors"] += 1
    while time.monotonic() < until:
        for key, _ in sel.select(timeout=0.2):
            state = key.data
            try:
                data = key.fileobj.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if data:
                if data.startswith(b"SSH-"):
                    state["banner"] = True
                continue
            sel.unregister(key.fileobj)
            state["open"] = False
            # Closed before the server said its version: refused at the door (a connection limit).
            result["refused" if not state["banner"] else "closed_later"] += 1
    for key in list(sel.get_map().values()):
        if key.data["open"]:
            result["held"] += 1
    for s in socks:
        s.close()
    sel.close()


def attack(host, port, seconds, hold_source, hold_count, pipe_source, pipe_workers):
    until = time.monotonic() + seconds
    held = {"held": 0, "refused": 0, "closed_later": 0, "connect_errors": 0}
    pipe = {"connections": 0, "refused": 0, "attempts_answered": 0, "max_failures": 0, "closed_by_server": 0,
            "left_open": 0, "successes": 0}
    lock = threading.Lock()

    def worker(n):
        users = ["globex", f"nobody{n}", "acme"]
        while time.monotonic() < until - 1:
            # Wait briefly for the answers, then move on: an attacker does not wait for 5 s delays.
            # Half send 10 (past the limit), half exactly 6 (the most a connection may try).
            r = pipelined(host, port, pipe_source, users, "not the password", 10 if n % 2 else 6, wait=1.5)
            with lock:
                if r is None:
                    pipe["refused"] += 1
                else:
                    pipe["connections"] += 1
                    pipe["attempts_answered"] += r["failures"] + r["successes"]
                    pipe["successes"] += r["successes"]
                    pipe["max_failures"] = max(pipe["max_failures"], r["failures"])
                    pipe["closed_by_server" if r["closed"] else "left_open"] += 1
            if r is None:
                time.sleep(0.3)

    threads = [threading.Thread(target=hold, args=(host, port, hold_source, hold_count, until, held), daemon=True)]
    threads += [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(pipe_workers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=max(0.0, until - time.monotonic()) + 15)
    print(json.dumps({"hold": held, "pipeline": pipe}), flush=True)


def main(argv):
    mode = argv[1]
    if mode not in ("retry", "exhaust"):
        # Refusals are what the attack modes expect; paramiko would print a traceback for each.
        logging.getLogger("paramiko").setLevel(logging.CRITICAL + 1)
    if mode == "retry":
        retry(argv[2], int(argv[3]), argv[4], argv[5], argv[6], argv[7])
    elif mode == "exhaust":
        exhaust(argv[2], int(argv[3]), argv[4], argv[5], int(argv[6]))
    elif mode == "pipeline":
        r = pipelined(argv[2], int(argv[3]), argv[4], [argv[5]], "not the password", int(argv[6]))
        print(json.dumps(r), flush=True)
    elif mode == "attack":
        attack(argv[2], int(argv[3]), float(argv[4]), argv[5], int(argv[6]), argv[7], int(argv[8]))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv)
    # paramiko's transport threads are daemons; do not wait for them.
    sys.stdout.flush()
    os._exit(0)
