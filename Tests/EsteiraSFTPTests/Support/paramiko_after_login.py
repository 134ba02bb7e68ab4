"""paramiko cases of the gateway's after-login tests (AfterLoginTests.swift).

Usage: paramiko_after_login.py MODE HOST PORT USER KEYFILE [SECONDS]
  unicode  a `/` followed by a combining mark is still a `/`: "../\u0301b" climbs and is refused.
  hold     opens a session, prints "session open", then lists / every 0.2 s until the gateway closes
           the connection (prints "closed by the gateway after N s", exit 0) or SECONDS pass
           (prints "still open", exit 1).
  idle     logs in and opens no channel; prints "closed by the gateway after N s" when the gateway
           closes the connection (exit 0), or "still open" after SECONDS (exit 1).
  budget   opens two files for writing, then a third, which the upload memory budget (two parts)
           must refuse with the reason; after closing one, the third opens. Prints "budget ok".
  folders  opens folders for listing without closing them until one is refused; prints "folders opened N".
  channels opens session channels on one connection until one is refused; prints "channels opened N".
Any unexpected failure exits non-zero with the reason.
"""
import sys
import time

import paramiko

mode, host, port, user, keyfile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
key = paramiko.Ed25519Key.from_private_key_file(keyfile)
transport = paramiko.Transport((host, port))
transport.connect(username=user, pkey=key)

if mode == "unicode":
    sftp = paramiko.SFTPClient.from_transport(transport)
    for raw in ("../\u0301b", "/../\u0301b.csv", "in/../../\u0301x.csv"):
        try:
            with sftp.open(raw, "w") as f:
                f.write(b"outside?")
            raise SystemExit(f"{raw!r} was accepted")
        except PermissionError as e:
            assert "goes above your home folder" in str(e), e
            print("refused", ascii(raw))
    # A name that merely starts with a combining mark is fine inside the home.
    with sftp.open("\u0301ok.csv", "w") as f:
        f.write(b"fine\n")
    print("listing", ascii(sorted(sftp.listdir("/"))))
    print("unicode ok")
elif mode == "hold":
    seconds = float(sys.argv[6])
    sftp = paramiko.SFTPClient.from_transport(transport)
    sftp.listdir("/")
    print("session open", flush=True)
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            sftp.listdir("/")
        except Exception as e:  # the connection went away under us
            print(f"closed by the gateway after {time.monotonic() - started:.1f} s ({type(e).__name__})", flush=True)
            sys.exit(0)
        if not transport.is_active():
            print(f"closed by the gateway after {time.monotonic() - started:.1f} s", flush=True)
            sys.exit(0)
        time.sleep(0.2)
    print("still open", flush=True)
    sys.exit(1)
elif mode == "budget":
    sftp = paramiko.SFTPClient.from_transport(transport)
    first, second = sftp.open("/b1.csv", "w"), sftp.open("/b2.csv", "w")
    first.write(b"one\n")
    second.write(b"two\n")
    first.flush()
    second.flush()
    try:
        sftp.open("/b3.csv", "w")
        raise SystemExit("a third upload was admitted over the memory budget")
    except IOError as e:
        assert "upload memory" in str(e), e
        print("refused:", e, flush=True)
    first.close()
    with sftp.open("/b3.csv", "w") as third:
        third.write(b"three\n")
    second.close()
    print("budget ok", flush=True)
elif mode == "folders":
    from paramiko.sftp import CMD_OPENDIR
    sftp = paramiko.SFTPClient.from_transport(transport)
    opened = 0
    try:
        for _ in range(20):
            sftp._request(CMD_OPENDIR, "/")
            opened += 1
    except IOError as e:
        print("refused:", e, flush=True)
    print("folders opened", opened, flush=True)
elif mode == "idle":
    seconds = float(sys.argv[6])
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if not transport.is_active():
            print(f"closed by the gateway after {time.monotonic() - started:.1f} s", flush=True)
            sys.exit(0)
        time.sleep(0.1)
    print("still open", flush=True)
    sys.exit(1)
elif mode == "channels":
    opened = []
    try:
        for _ in range(50):
            opened.append(transport.open_session(timeout=10))
    except paramiko.ChannelException as e:
        print("refused:", e.code, e.text, flush=True)
    print("channels opened", len(opened), flush=True)
    # Closing some makes room again.
    for c in opened[:3]:
        c.close()
    time.sleep(0.5)
    try:
        transport.open_session(timeout=10)
        print("reopen ok", flush=True)
    except paramiko.ChannelException as e:
        print("reopen refused:", e.code, e.text, flush=True)
else:
    raise SystemExit(f"unknown mode {mode}")
transport.close()
